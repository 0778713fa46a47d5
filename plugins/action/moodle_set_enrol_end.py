# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin cemu.moodle.moodle_set_enrol_end: the module's work in the controller's worker process.

Documentation, options and results: the module (plugins/modules/moodle_set_enrol_end.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cemu.moodle.plugins.modules import moodle_set_enrol_end
from ansible_collections.cemu.moodle.plugins.plugin_utils.in_process import MoodleAction


class ActionModule(MoodleAction):
    MODULE = moodle_set_enrol_end
