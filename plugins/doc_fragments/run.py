# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options of a run on one course, with the companion plugin's history and claims (cemu.moodle.run)."""

    DOCUMENTATION = r'''
options:
  run_id:
    description:
      - The run this task belongs to, named in Moodle's history of changes and in the course claim
        (letters, digits, C(_) and C(-), at most 64). Default a new id for this task.
      - With the companion plugin 2026120110 or later the task claims the course before it reads it and
        releases it when done, so that no other run writes to the course in between.
    type: str
  claim_wait:
    description:
      - Seconds to wait while another run holds the course before failing with a message naming that run.
    type: int
    default: 0
'''
