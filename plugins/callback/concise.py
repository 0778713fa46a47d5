# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: concise
type: stdout
short_description: Ansible's default output with one line per task instead of one per host
version_added: 0.2.0
author:
  - cemu.moodle contributors (@cemu-moodle)
description:
  - Ansible's default screen output (C(ansible.builtin.default)), made for runs over hundreds of hosts such as
    the playbook C(cemu.moodle.keep_access), where each course is a host.
  - "A host that is C(ok), C(changed) or C(skipped) gets no line of its own; each task ends with one line
    counting its hosts per outcome, for example V(180 ok, 20 changed)."
  - Shown in full as the default output shows them, host by host, are failures, unreachable hosts, warnings,
    the diff of a changed host with C(--diff) (followed by its C(changed) line), the output of
    C(ansible.builtin.debug) tasks (the run report), and every host at C(-v) and above.
  - The PLAY RECAP has a line for each host that failed or was unreachable and one line adding up the others.
  - Select it with C(ANSIBLE_STDOUT_CALLBACK=cemu.moodle.concise), or C(stdout_callback = cemu.moodle.concise)
    in the C([defaults]) section of C(ansible.cfg).
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
requirements:
  - set as stdout callback in the configuration
'''

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

# the default callback's options this one always turns off (a line per ok or skipped host)
HIDDEN_HOST_LINES = ('display_ok_hosts', 'display_skipped_hosts')
SHOWN_ACTIONS = ('debug', 'ansible.builtin.debug', 'ansible.legacy.debug')
OUTCOMES = ('ok', 'changed', 'skipped', 'failed', 'unreachable', 'ignored')
RECAP_FIELDS = (('ok', 'ok'), ('changed', 'changed'), ('unreachable', 'unreachable'), ('failures', 'failed'),
                ('skipped', 'skipped'), ('rescued', 'rescued'), ('ignored', 'ignored'))


def _result_dict(result):
    """The result's dictionary (``result.result`` from ansible-core 2.19, ``result._result`` before)."""
    value = getattr(result, 'result', None)
    return value if isinstance(value, dict) else result._result


def _task_of(result):
    task = getattr(result, 'task', None)
    return task if task is not None else result._task


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'cemu.moodle.concise'

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._counted_task = None
        self._counted = None
        self._counts = {}
        self._show_every_host = False

    # -- options: the per-host lines are off unless a host's result is shown anyway --

    def get_option(self, k, *args, **kwargs):
        if k in HIDDEN_HOST_LINES and not self._show_every_host and self._display.verbosity < 1:
            return False
        return super(CallbackModule, self).get_option(k, *args, **kwargs)

    # -- per-task counts --

    def _count(self, result, outcome):
        task = _task_of(result)
        if self._counted_task != task._uuid:
            self._flush()
            self._counted_task = task._uuid
            self._counted = task
        self._counts[outcome] = self._counts.get(outcome, 0) + 1

    def _flush(self):
        """One line for the task that ended: its hosts per outcome."""
        if self._counted_task is None:
            return
        if self._last_task_banner != self._counted_task:
            self._print_task_banner(self._counted)
        self._display.display(', '.join('%d %s' % (self._counts[o], o) for o in OUTCOMES if self._counts.get(o)))
        self._counted_task, self._counts = None, {}

    def _shown_anyway(self, result):
        return _task_of(result).action in SHOWN_ACTIONS

    def _with_every_host(self, method, result, *args):
        self._show_every_host = True
        try:
            method(result, *args)
        finally:
            self._show_every_host = False

    def _warnings_only(self, result):
        """A hidden host's warnings are still shown (the default output drops them with ok hosts hidden)."""
        if hasattr(self, '_handle_warnings_and_exception'):
            self._handle_warnings_and_exception(result)
        else:
            self._handle_warnings(_result_dict(result))

    # -- results --

    def v2_runner_on_ok(self, result):
        values = _result_dict(result)
        self._count(result, 'changed' if values.get('changed') else 'ok')
        if self._shown_anyway(result):
            self._with_every_host(super(CallbackModule, self).v2_runner_on_ok, result)
        elif values.get('changed') and not (self._diff_shown(result, values) or self._display.verbosity >= 1):
            self._warnings_only(result)
        elif not values.get('changed') and not self.get_option('display_ok_hosts'):
            self._warnings_only(result)     # the default output drops an ok host's warnings with ok hosts hidden
        else:
            super(CallbackModule, self).v2_runner_on_ok(result)

    @staticmethod
    def _diff_shown(result, values):
        """Whether the default output showed this result's diff (v2_on_file_diff comes before the result)."""
        return bool(values.get('diff')) and bool(getattr(_task_of(result), 'diff', False))

    def v2_runner_on_skipped(self, result):
        self._count(result, 'skipped')
        if self.get_option('display_skipped_hosts'):
            super(CallbackModule, self).v2_runner_on_skipped(result)
        else:
            self._warnings_only(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result, 'ignored' if ignore_errors else 'failed')
        super(CallbackModule, self).v2_runner_on_failed(result, ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._count(result, 'unreachable')
        super(CallbackModule, self).v2_runner_on_unreachable(result)

    # -- task and play boundaries: the ended task's line --

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush()
        super(CallbackModule, self).v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_handler_task_start(self, task):
        self._flush()
        super(CallbackModule, self).v2_playbook_on_handler_task_start(task)

    def v2_playbook_on_play_start(self, play):
        self._flush()
        super(CallbackModule, self).v2_playbook_on_play_start(play)

    def v2_playbook_on_no_hosts_remaining(self):
        self._flush()
        super(CallbackModule, self).v2_playbook_on_no_hosts_remaining()

    def v2_playbook_on_stats(self, stats):
        """PLAY RECAP: a line per host that failed or was unreachable, one line for all the others."""
        self._flush()
        if self._display.verbosity >= 1:
            return super(CallbackModule, self).v2_playbook_on_stats(stats)
        self._display.banner('PLAY RECAP')
        others, totals = 0, dict((key, 0) for key, _name in RECAP_FIELDS)
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            if summary['failures'] or summary['unreachable']:
                self._display.display('%-26s : %s' % (host, self._recap_counts(summary)))
                continue
            others += 1
            for key, _name in RECAP_FIELDS:
                totals[key] += summary[key]
        if others:
            self._display.display('%-26s : %s' % ('%d other hosts' % others, self._recap_counts(totals)))
        self._display.display('', screen_only=True)
        return None

    @staticmethod
    def _recap_counts(summary):
        return '  '.join('%s=%d' % (name, summary[key]) for key, name in RECAP_FIELDS)
