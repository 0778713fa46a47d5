# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One write per user: moodle_restore_manual with end_date, through ansible-playbook against the simulator.

Two copies of the course of test_modules: one converted the way it always was (restore, then
moodle_set_enrol_end), one with the end date folded into the restore. Moodle ends up the same; the
users the restore writes are written once (one apply row, one history record), and the end-date step
finds nothing left to change for them.
"""

import pytest

from tests.integration.module_runner import Task, connection_options, run_tasks
from tests.integration.test_modules import (
    END, END_DATE, EXPECTED_AFTER_PROCEDURE, assert_ok, build_course, manual_view, names, short)
from tests.simulator import Simulator

TOKEN = 'integration-token-end-date-7c2d'
APPLY = 'local_keepaccess_apply_manual_enrolments'
FOLDED = ['s01', 's02', 's03', 's08']          # converted students: the restore writes them anyway
LEFT_TO_END_STEP = ['s05', 's07']               # selected students the restore does not write


@pytest.fixture(scope='module')
def sim():
    simulator = Simulator(version='4.5', fixture='empty', token=TOKEN).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def connection(sim):
    return connection_options(sim.url, TOKEN)


def prepared_course(sim, connection, shortname, backup_dir):
    """test_modules' course, backed up, then s03 dropped by the source and s09, s10 deleted."""
    courseid, users = build_course(sim, shortname)
    assert_ok(run_tasks([Task('moodle_backup_enrolments', course=shortname, backup_dir=backup_dir)],
                        connection)[0], True)
    sim.drop_from_source(courseid, 'cohort', [users['s03']])
    sim.set_user_flags(users['s09'], deleted=1)
    sim.drop_from_source(courseid, 'database', [users['s10']])
    sim.set_user_flags(users['s10'], deleted=1)
    return courseid


def apply_rows_sent(sim, since):
    return sum(call['rows'] for call in sim.calls()[since:] if call['function'] == APPLY)


def history_by_user(sim, courseid):
    by_user = {}
    for record in sim.history(courseid):
        by_user.setdefault(record['userid'], []).append(record)
    return by_user


def test_restore_with_end_date_leaves_moodle_as_restore_then_end_date_with_one_write_per_user(
        sim, connection, tmp_path):
    backups = str(tmp_path)
    two_steps = prepared_course(sim, connection, 'TWO', backups)
    one_write = prepared_course(sim, connection, 'ONE', backups)
    end = {'end': END_DATE}

    mark = len(sim.calls())
    before = run_tasks([Task('moodle_restore_manual', course='TWO', backup_dir=backups),
                        Task('moodle_set_enrol_end', course='TWO', **end)], connection)
    rows_two_steps = apply_rows_sent(sim, mark)
    assert_ok(before[1], True)
    assert names(before[1]['changed_users']) == sorted(FOLDED + LEFT_TO_END_STEP)

    mark = len(sim.calls())
    run = run_tasks([Task('moodle_restore_manual', course='ONE', backup_dir=backups, diff=True, end_date=end),
                     Task('moodle_set_enrol_end', course='ONE', diff=True, **end),
                     Task('moodle_restore_manual', course='ONE', backup_dir=backups, end_date=end),
                     Task('moodle_set_enrol_end', course='ONE', **end)], connection)
    rows_one_write = apply_rows_sent(sim, mark)
    restore, set_end, restore_again, set_end_again = run.results

    # the same Moodle as the two steps leave (and as the manual procedure, test_modules)
    assert manual_view(sim, one_write) == manual_view(sim, two_steps) == EXPECTED_AFTER_PROCEDURE
    assert_ok(restore, True)
    assert names(restore['end_dates_set']) == FOLDED
    assert all(u['after'] == END for u in restore['end_dates_set'])
    assert restore['end'] == END and restore['timezone'] == 'Europe/Berlin'
    assert restore['user_changes']['after']['one-s01']['timeend'] == END
    # the end-date step: nothing left to change for the users the restore wrote
    assert_ok(set_end, True)
    assert names(set_end['changed_users']) == LEFT_TO_END_STEP
    assert set_end['counts'] == {'selected': 6, 'changed': 2, 'unchanged': 4}
    assert_ok(restore_again, False)
    assert_ok(set_end_again, False)
    # one apply row per user: the four folded users are no longer sent twice
    assert rows_two_steps - rows_one_write == len(FOLDED)
    # and Moodle's history holds one record per folded user, the restore's, its after-state with the end
    history = history_by_user(sim, one_write)
    for record in (r for records in history.values() for r in records):
        assert record['step'] in ('restore', 'enddate')
    by_name = dict((short(restore_user['username']), restore_user['userid']) for restore_user in restore['created']
                   + restore['updated'])
    for name in FOLDED:
        [record] = history[by_name[name]]
        assert (record['step'], record['hasafter'], record['timeendafter']) == ('restore', 1, END)


def test_restore_with_end_date_refuses_a_past_end_before_any_write(sim, connection, tmp_path):
    backups = str(tmp_path)
    courseid = prepared_course(sim, connection, 'PAST', backups)
    before = manual_view(sim, courseid)
    [restore] = run_tasks([Task('moodle_restore_manual', course='PAST', backup_dir=backups,
                                end_date={'end': '2020-01-31'})], connection).results
    assert restore.get('failed') and 'end_date: end:' in restore['msg'] and 'in the past' in restore['msg']
    assert 'PAST' in restore['msg']
    assert manual_view(sim, courseid) == before
    assert sim.history(courseid) == []


def test_check_mode_plans_the_folded_end_and_the_end_date_step_plans_the_others(sim, connection, tmp_path):
    backups = str(tmp_path)
    courseid = prepared_course(sim, connection, 'DRY', backups)
    moodle_before = sim.dump_state()
    restore, set_end = run_tasks(
        [Task('moodle_restore_manual', course='DRY', backup_dir=backups, check=True, diff=True,
              end_date={'end': END_DATE}),
         Task('moodle_set_enrol_end', course='DRY', check=True, end=END_DATE,
              assume_enrolments='{{ task0.planned_enrolments }}')], connection).results
    assert_ok(restore, True)
    # s10 left the course and was deleted: a dry run cannot know (only the write is refused), as without end_date
    assert names(restore['end_dates_set']) == FOLDED + ['s10']
    planned = dict((short(p['username']), p['timeend']) for p in restore['planned_enrolments'])
    assert all(planned[name] == END for name in FOLDED)
    assert restore['user_changes']['after']['dry-s02']['timeend'] == END
    assert names(set_end['changed_users']) == LEFT_TO_END_STEP
    assert sim.dump_state() == moodle_before
    assert courseid
