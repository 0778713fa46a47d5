# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin cemu.moodle.moodle_site_check: the module's work in the controller's worker process.

Documentation, options and results: the module (plugins/modules/moodle_site_check.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cemu.moodle.plugins.modules import moodle_site_check
from ansible_collections.cemu.moodle.plugins.plugin_utils.in_process import MoodleAction


class ActionModule(MoodleAction):
    MODULE = moodle_site_check
