# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin cemu.moodle.keep_access_report_files: the module's work in the controller's worker process.

Documentation, options and results: the module (plugins/modules/keep_access_report_files.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cemu.moodle.plugins.modules import keep_access_report_files
from ansible_collections.cemu.moodle.plugins.plugin_utils.in_process import MoodleAction


class ActionModule(MoodleAction):
    MODULE = keep_access_report_files
