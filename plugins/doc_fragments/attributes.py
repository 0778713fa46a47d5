# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """What every module of the collection does of the standard attributes (cemu.moodle.attributes).

    Their descriptions come from ansible.builtin.action_common_attributes, listed after this fragment; a
    module adds its details.
    """

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
    details:
      - Runs where Python and C(requests) are, usually the controller (C(localhost)); Moodle is reached over HTTP(S).
  action_group:
    description: Use C(group/cemu.moodle.moodle) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cemu.moodle.moodle
'''
