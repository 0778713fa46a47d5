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
    moodle.remove_manual(KA1, plan.rows, run=run, put_back=True)      # one write per user
    moodle.release_course(KA1, 'undo-1')
    return plan


EMPTY_UNDO = {'created_enrolments': [], 'created_after': [], 'updated_enrolments': [], 'assigned_roles': []}


def enrolment_of(site, userid):
    return site.state.user_enrolment(site.manual_instance(KA1)['id'], userid)


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
                      'created_after': [{'userid': PROBE, 'after': {'status': 0, 'timestart': 0, 'timeend': T2}}],
                      'updated_enrolments': [{'userid': OTHER, 'before': {'timeend': 0}, 'after': {'timeend': T2}}],
                      'assigned_roles': [{'userid': PROBE, 'roleid': STUDENT}]}
    undo(moodle, record)
    assert manual_state(site) == before
    history = moodle.read_course_history(KA1)
    assert undo_record(history) == EMPTY_UNDO
    assert settled_users(history) == []
    assert sorted(r['step'] for r in history if r['step'] == 'revert') == ['revert', 'revert']


def test_the_end_date_set_on_an_enrolment_from_before_is_put_back(moodle, site):
    convert(moodle)
    assert enrolment_of(site, OTHER)['timeend'] == T2
    plan = undo(moodle, undo_record(moodle.read_course_history(KA1)))
    assert plan.reverted == [{'userid': OTHER, 'username': site.state.user(OTHER)['username']}]
    assert plan.left_alone == []
    assert enrolment_of(site, OTHER)['timeend'] == 0


def test_a_second_undo_finds_nothing_to_do(moodle, site):
    convert(moodle)
    undo(moodle, undo_record(moodle.read_course_history(KA1)))
    state = CourseState.from_api(moodle.read_course_enrolments(KA1))
    assert not plan_undo(undo_record(moodle.read_course_history(KA1)), state).changed


def test_a_conversion_after_an_undo_is_undone_again_to_the_same_before_state(moodle, site):
    before = manual_state(site)
    convert(moodle)
    undo(moodle, undo_record(moodle.read_course_history(KA1)))
    convert(moodle, runid='run-2')                                   # re-converted after the revert
    history = moodle.read_course_history(KA1)
    assert settled_users(history) == [PROBE, OTHER]                  # OTHER: dated by the end-date step
    assert undo_record(history)['created_enrolments'] == [PROBE]
    assert undo_record(history)['updated_enrolments'] == [
        {'userid': OTHER, 'before': {'timeend': 0}, 'after': {'timeend': T2}}]
    undo(moodle, undo_record(history))
    assert manual_state(site) == before


def test_a_created_enrolment_changed_since_stays_with_its_roles_and_is_reported(moodle, site):
    convert(moodle)
    site.state.update('user_enrolments', enrolment_of(site, PROBE)['id'], timeend=T1)   # extended by hand since
    plan = undo(moodle, undo_record(moodle.read_course_history(KA1)))
    assert plan.left_alone == [{'userid': PROBE, 'username': site.state.user(PROBE)['username'],
                                'field': 'timeend', 'expected': T2, 'found': T1}]
    assert plan.removed == [] and enrolment_of(site, PROBE)['timeend'] == T1
    assert (PROBE, STUDENT) in manual_state(site)[1]
    assert enrolment_of(site, OTHER)['timeend'] == 0                # the rest of the run is undone


def test_a_field_changed_since_is_left_alone(moodle, site):
    convert(moodle)
    site.state.update('user_enrolments', site.state.user_enrolment(site.manual_instance(KA1)['id'], OTHER)['id'],
                      timeend=T1)                                          # a teacher moved OTHER's end since
    plan = undo(moodle, undo_record(moodle.read_course_history(KA1)))
    assert plan.reverted == []
    assert plan.left_alone == [{'userid': OTHER, 'username': site.state.user(OTHER)['username'],
                                'field': 'timeend', 'expected': T2, 'found': T1}]
    assert (OTHER, 0, 0, T1) in manual_state(site)[0]
    assert PROBE not in [ue[0] for ue in manual_state(site)[0]]      # the created enrolment is removed


def test_controller_records_and_moodles_history_are_one_union():
    moodle_record = {'created_enrolments': [PROBE], 'assigned_roles': [{'userid': PROBE, 'roleid': STUDENT}],
                     'updated_enrolments': [{'userid': OTHER, 'before': {'timeend': 0}, 'after': {'timeend': T2}}]}
    controller_record = {'created_enrolments': [THIRD], 'assigned_roles': [{'userid': PROBE, 'roleid': STUDENT}],
                         'updated_enrolments': [{'userid': OTHER, 'before': {'timeend': 5}, 'after': {'timeend': 6}}]}
    merged = merge_undo_records(moodle_record, controller_record)
    assert merged['created_enrolments'] == [PROBE, THIRD]
    assert merged['updated_enrolments'] == moodle_record['updated_enrolments']        # Moodle's history wins
    assert merged['assigned_roles'] == [{'userid': PROBE, 'roleid': STUDENT}]
