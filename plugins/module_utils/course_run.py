# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's run on one course: claimed in Moodle while it writes, named in Moodle's history.

With the companion plugin 2026120110 or later a module claims the course before it writes (so no
other run writes there between the read its writes are planned from and those writes), names its
run and step on every write (Moodle's history then says who did what), and reads what earlier runs
did from Moodle, so that any controller knows it. With an older plugin it works as before.

A run that has nothing to write claims nothing: the module reads and plans unclaimed; at its first
write (``before_write``) the step stops, claims the course, and reads and plans again under the
claim, then writes. Two runs therefore never interleave a read-plan-write, and a re-run that
changes nothing costs no claim and no release.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleError
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import HISTORY_FUNCTIONS, new_run_id
from ansible_collections.cemu.moodle.plugins.module_utils.moodle_history import settled_users


class ClaimNeeded(Exception):
    """A run was about to write without holding the course's claim: claim, then read and plan again."""


class CourseRun(dict):
    """The run a step's writes name ({runid, step}); knows whether it holds the course's claim."""

    def __init__(self, runid, step, claimed=False):
        super(CourseRun, self).__init__(runid=runid, step=step)
        self.claimed = claimed


def keeps_history(moodle):
    """Whether the token's service has the history and claim functions."""
    return not moodle.client.missing_functions(HISTORY_FUNCTIONS)


def before_write(run):
    """Call before any write of a course step (Moodle or the controller's record of it).

    Raises ClaimNeeded when ``run`` does not hold the course yet; nothing for None (no history)
    or a claimed run. Check mode never reaches a write.
    """
    if run is not None and not run.claimed:
        raise ClaimNeeded()


def run_course_step(moodle, step, read_plan_write):
    """``read_plan_write(run)`` of the module's course, claimed in Moodle while it writes; its result.

    ``read_plan_write`` reads the course, plans, calls ``before_write(run)`` before its first write,
    writes and exits. It runs once unclaimed; when it reaches a write it runs again from the start
    with the course claimed (and released in the end, also on errors). ``run`` is None without the
    history functions (no claim, no names). Check mode claims nothing (a claim is a write).
    """
    if not keeps_history(moodle):
        return read_plan_write(None)
    runid = moodle.params.get('run_id') or new_run_id()
    if moodle.check_mode:
        return read_plan_write(CourseRun(runid, step))
    try:
        return read_plan_write(CourseRun(runid, step))
    except ClaimNeeded:
        pass
    run = CourseRun(runid, step, claimed=True)
    with moodle.moodle_errors():
        moodle.api.claim_course(moodle.course['id'], runid, wait=moodle.params.get('claim_wait') or 0)
    try:
        return read_plan_write(run)
    finally:
        try:
            moodle.api.release_course(moodle.course['id'], runid)
        except MoodleError:
            pass        # the claim ends by itself when it expires


def history_settled_users(moodle):
    """Users earlier restores settled, from Moodle's history (any controller); [] without history."""
    if not keeps_history(moodle):
        return []
    with moodle.moodle_errors():
        return settled_users(moodle.api.read_course_history(moodle.course['id']))
