# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes every module of the collection has (cemu.moodle.attributes); a module adds its details."""

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
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
