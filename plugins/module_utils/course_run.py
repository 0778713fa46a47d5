# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's run on one course: claimed in Moodle, named in Moodle's history.

With the companion plugin 2026120110 or later a module claims the course for its run (so no
other run writes there between its read and its write), names its run and step on every write
(Moodle's history then says who did what), and reads what earlier runs did from Moodle, so that
any controller knows it. With an older plugin it works as before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from contextlib import contextmanager

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleError
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import HISTORY_FUNCTIONS, new_run_id
from ansible_collections.cemu.moodle.plugins.module_utils.moodle_history import settled_users


def keeps_history(moodle):
    """Whether the token's service has the history and claim functions."""
    return not moodle.client.missing_functions(HISTORY_FUNCTIONS)


@contextmanager
def course_run(moodle, step):
    """Yield the run ({runid, step}) the writes name, the course claimed meanwhile; None without history.

    Check mode claims nothing (a claim is a write) and writes nothing.
    """
    if not keeps_history(moodle):
        yield None
        return
    run = {'runid': moodle.params.get('run_id') or new_run_id(), 'step': step}
    if moodle.check_mode:
        yield run
        return
    with moodle.moodle_errors():
        moodle.api.claim_course(moodle.course['id'], run['runid'], wait=moodle.params.get('claim_wait') or 0)
    try:
        yield run
    finally:
        try:
            moodle.api.release_course(moodle.course['id'], run['runid'])
        except MoodleError:
            pass        # the claim ends by itself when it expires


def history_settled_users(moodle):
    """Users earlier restores settled, from Moodle's history (any controller); [] without history."""
    if not keeps_history(moodle):
        return []
    with moodle.moodle_errors():
        return settled_users(moodle.api.read_course_history(moodle.course['id']))
