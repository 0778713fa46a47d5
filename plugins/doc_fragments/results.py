# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shaping what a course module returns (cemu.moodle.results)."""

    DOCUMENTATION = r'''
options:
  user_lists:
    description:
      - Whether the result lists every user the task read or changed (for example C(users) of the backup,
        C(created) and C(updated) of the restore).
      - V(false) leaves those lists out. The RV(counts) stay, and so do the short lists of users that need a look
        (skipped, kept suspended, left alone) and, with C(--diff), the diff. Use it in runs over many courses,
        where ansible-playbook keeps every course's registered result in memory for the whole run. Role
        C(cemu.moodle.keep_access) does so unless told otherwise.
      - Moodle's history of the run and the backup files do not depend on it.
    type: bool
    default: true
'''
