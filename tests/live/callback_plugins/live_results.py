# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback for the live tests: every task's result per host, written as JSON to $LIVE_RESULTS_FILE at the end.

The tests assert on what the modules planned (diff, planned enrolments, counts), not only on the recap.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: live_results
type: aggregate
short_description: task results as JSON for the live tests
description:
  - Writes every task's result per host, as JSON, to the file named by the environment variable LIVE_RESULTS_FILE.
requirements:
  - enabled with ANSIBLE_CALLBACKS_ENABLED
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'live_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.results = {}

    def _keep(self, result):
        task = self.results.setdefault(result._task.get_name(), {})
        task[result._host.get_name()] = result._result

    v2_runner_on_ok = _keep
    v2_runner_on_failed = _keep
    v2_runner_on_skipped = _keep

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('LIVE_RESULTS_FILE')
        if path:
            with open(path, 'w') as handle:
                json.dump(self.results, handle, default=str)
