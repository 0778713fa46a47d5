# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moodle's history read back by any controller: who is settled, and an undo that restores the before-state."""

from __future__ import annotations

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi
from ansible_collections.cemu.moodle.plugins.module_utils.moodle_history import (
    merge_undo_records,
    settled_users,
    undo_record,
)
from ansible_collections.cemu.moodle.plugins.module_utils.plan import CourseState, plan_undo
from tests.simulator import Simulator

KA1 = 2
PROBE, OTHER, THIRD = 45, 46, 47
STUDENT = 5
T1, T2 = 1800000000, 1900000000
TOKEN = 'moodle-history-service-token-01'


@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='recorded').start()
    yield sim
    sim.stop()


@pytest.fixture
def site(server):
    server.reset('recorded', '4.5')
    server.add_service_token(TOKEN)
    server.enrol(server.manual_instance(KA1)['id'], OTHER)        # a manual enrolment from before, no end
    return server


@pytest.fixture
def moodle(site):
    return KeepAccessApi(MoodleClient(site.url, TOKEN, retries=0))


def manual_state(site):
    answer = site.course_enrolments(KA1)
    enrolments = sorted((ue['userid'], ue['status'], ue['timestart'], ue['timeend'])
                        for ue in answer['userenrolments'] if ue['enrol'] == 'manual')
    roles = sorted((ra['userid'], ra['roleid']) for ra in answer['roleassignments'] if ra['component'] == '')
    return enrolments, roles


def convert(moodle, runid='run-1'):
    """A run: restore PROBE (created, student), then the end date on PROBE and on OTHER's older enrolment."""
    run = {'runid': runid}
    moodle.claim_course(KA1, runid)
    moodle.apply_manual(KA1, [{'userid': PROBE, 'roleids': [STUDENT]}], run=dict(run, step='restore'))
    moodle.apply_manual(KA1, [{'userid': PROBE, 'timeend': T2}, {'userid': OTHER, 'timeend': T2}],
                        run=dict(run, step='enddate'))
    moodle.release_course(KA1, runid)


def undo(moodle, record):
    state = CourseState.from_api(moodle.read_course_enrolments(KA1))
    plan = plan_undo(record, state)
    run = {'runid': 'undo-1', 'step': 'revert'}
    moodle.claim_course(KA1, 'undo-1')
    moodle.remove_manual(KA1, plan.remove_rows, run=run)
    moodle.apply_manual(KA1, plan.revert_rows, run=run)
    moodle.release_course(KA1, 'undo-1')
    return plan


def test_any_controller_knows_who_an_earlier_restore_settled(moodle):
    convert(moodle)
    assert settled_users(moodle.read_course_history(KA1)) == [PROBE, OTHER]


def test_a_user_the_restore_left_unchanged_and_the_end_date_step_dated_is_settled(moodle):
    """Real Moodle 4.5, KA3's student0222: an active manual enrolment next to the database one. The restore
    writes nothing for them (no history row), the end-date step dates it; a fresh controller's restore must
    not merge them again ("no end wins" would clear the end date)."""
    run = {'runid': 'run-1', 'step': 'enddate'}
    moodle.claim_course(KA1, 'run-1')
    moodle.apply_manual(KA1, [{'userid': OTHER, 'timeend': T2}], run=run)
    moodle.release_course(KA1, 'run-1')
    assert settled_users(moodle.read_course_history(KA1)) == [OTHER]


def test_undo_from_moodles_history_restores_the_before_state_exactly(moodle, site):
    before = manual_state(site)
    convert(moodle)
    record = undo_record(moodle.read_course_history(KA1))
    assert record == {'created_enrolments': [PROBE],
                      'updated_enrolments': [{'userid': OTHER, 'before': {'timeend': 0}, 'after': {'timeend': T2}}],
                      'assigned_roles': [{'userid': PROBE, 'roleid': STUDENT}]}
    undo(moodle, record)
    assert manual_state(site) == before
    history = moodle.read_course_history(KA1)
    assert undo_record(history) == {'created_enrolments': [], 'updated_enrolments': [], 'assigned_roles': []}
    assert settled_users(history) == []


def test_a_field_changed_since_is_left_alone(moodle, site):
    convert(moodle)
    site.state.update('user_enrolments', site.state.user_enrolment(site.manual_instance(KA1)['id'], OTHER)['id'],
                      timeend=T1)                                          # a teacher moved OTHER's end since
    plan = undo(moodle, undo_record(moodle.read_course_history(KA1)))
    assert plan.reverted == []
    assert (OTHER, 0, 0, T1) in manual_state(site)[0]


def test_controller_records_and_moodles_history_are_one_union():
    moodle_record = {'created_enrolments': [PROBE], 'assigned_roles': [{'userid': PROBE, 'roleid': STUDENT}],
                     'updated_enrolments': [{'userid': OTHER, 'before': {'timeend': 0}, 'after': {'timeend': T2}}]}
    controller_record = {'created_enrolments': [THIRD], 'assigned_roles': [{'userid': PROBE, 'roleid': STUDENT}],
                         'updated_enrolments': [{'userid': OTHER, 'before': {'timeend': 5}, 'after': {'timeend': 6}}]}
    merged = merge_undo_records(moodle_record, controller_record)
    assert merged['created_enrolments'] == [PROBE, THIRD]
    assert merged['updated_enrolments'] == moodle_record['updated_enrolments']        # Moodle's history wins
    assert merged['assigned_roles'] == [{'userid': PROBE, 'roleid': STUDENT}]
