# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore planning: Moodle's merge rules (restore with ENROL_NEVER), our deviations, undo."""

import copy

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    ACTIVE, SUSPENDED, CourseState, PlanError, backup_from_state, plan_restore, plan_undo)
from tests.unit.test_plan_fixtures import (
    COHORT, DATABASE, DISABLED_MANUAL, MANAGER, MANUAL, SITE, STUDENT, TEACHER, answer, apply_rows, instance, ra,
    remove_rows, ue)

U = 21  # the user every merge case is about


def backup_of(course_answer, methods=('database', 'cohort')):
    return backup_from_state(CourseState.from_api(course_answer), list(methods), SITE, '2026-08-20T10:00:00Z')


def restore(course_answer, backup, **options):
    return plan_restore(backup, CourseState.from_api(course_answer), **options)


FUTURE = 1900000000

# enrol_manual's restore_user_enrolment() (enrol/manual/lib.php, identical in 4.5 and 5.1), applied to each
# backed-up row in the order of its instance in the backup (here database before cohort).
# (name, existing manual enrolment or None, backed-up rows [(instance, status, timestart, timeend)],
#  expected category, expected manual enrolment afterwards (status, timestart, timeend))
MERGE_CASES = [
    ('new from one active row', None, [(DATABASE, ACTIVE, 100, 0)],
     'created', (ACTIVE, 100, 0)),
    ('new: the second active row merges (earlier start and earlier end)', None,
     [(DATABASE, ACTIVE, 100, 500), (COHORT, ACTIVE, 50, 400)], 'created', (ACTIVE, 50, 500)),
    ('new: the second active row merges (later start, no end)', None,
     [(DATABASE, ACTIVE, 100, 500), (COHORT, ACTIVE, 200, 0)], 'created', (ACTIVE, 100, 0)),
    ('new: the second active row starting earlier and ending later changes nothing', None,
     [(DATABASE, ACTIVE, 100, 500), (COHORT, ACTIVE, 50, 900)], 'created', (ACTIVE, 100, 500)),
    ('new: suspended rows do not widen an active merge', None,
     [(DATABASE, ACTIVE, 100, 500), (COHORT, SUSPENDED, 10, 0)], 'created', (ACTIVE, 100, 500)),
    ('new: an active row after a suspended one overwrites it', None,
     [(DATABASE, SUSPENDED, 0, 0), (COHORT, ACTIVE, 300, 900)], 'created', (ACTIVE, 300, 900)),
    ('new: all rows suspended: the last row wins', None,
     [(DATABASE, SUSPENDED, 50, 0), (COHORT, SUSPENDED, 100, 500)], 'created', (SUSPENDED, 100, 500)),
    ('active manual + active row ending earlier: written, earlier start taken', (ACTIVE, 300, 600),
     [(DATABASE, ACTIVE, 100, 500)], 'updated', (ACTIVE, 100, 600)),
    ('active manual + active row without end: end removed', (ACTIVE, 300, 600), [(DATABASE, ACTIVE, 400, 0)],
     'updated', (ACTIVE, 300, 0)),
    ('active manual + row starting and ending later: later end taken', (ACTIVE, 100, 500),
     [(DATABASE, ACTIVE, 200, 900)], 'updated', (ACTIVE, 100, 900)),
    ('active manual + row only starting earlier: nothing written', (ACTIVE, 300, 600),
     [(DATABASE, ACTIVE, 100, 600)], 'unchanged', (ACTIVE, 300, 600)),
    ('active manual + row only ending later: nothing written', (ACTIVE, 100, 500),
     [(DATABASE, ACTIVE, 100, 900)], 'unchanged', (ACTIVE, 100, 500)),
    ('active manual without end + row starting earlier: nothing written', (ACTIVE, 300, 0),
     [(DATABASE, ACTIVE, 100, 500)], 'unchanged', (ACTIVE, 300, 0)),
    ('a manual enrolment starting in the future keeps its start', (ACTIVE, FUTURE, 0),
     [(DATABASE, ACTIVE, 0, 0)], 'unchanged', (ACTIVE, FUTURE, 0)),
    ('active manual already covering the row is unchanged', (ACTIVE, 50, 0), [(DATABASE, ACTIVE, 100, 500)],
     'unchanged', (ACTIVE, 50, 0)),
    ('a suspended row never changes an active manual enrolment', (ACTIVE, 300, 600),
     [(DATABASE, SUSPENDED, 0, 0)], 'unchanged', (ACTIVE, 300, 600)),
    ('deviation: a suspended manual enrolment stays suspended', (SUSPENDED, 300, 600),
     [(DATABASE, ACTIVE, 0, 0)], 'kept_suspended', (SUSPENDED, 300, 600)),
    ('suspended manual + suspended row stays as it is', (SUSPENDED, 300, 600),
     [(COHORT, SUSPENDED, 0, 0)], 'kept_suspended', (SUSPENDED, 300, 600)),
]


def merge_answer(existing, rows):
    enrolments = [ue(U, iid, status, start, end) for iid, status, start, end in rows]
    if existing is not None:
        enrolments.append(ue(U, MANUAL, *existing))
    return answer(enrolments)


@pytest.mark.parametrize('name,existing,rows,category,expected', MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_merge_rules(name, existing, rows, category, expected):
    course = merge_answer(existing, rows)
    plan = restore(course, backup_of(course))
    assert [u['userid'] for u in getattr(plan, category)] == [U]
    after = CourseState.from_api(apply_rows(copy.deepcopy(course), plan.rows)).manual_enrolment(U)
    assert (after['status'], after['timestart'], after['timeend']) == expected


@pytest.mark.parametrize('name,existing,rows,category,expected', MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_second_restore_changes_nothing(name, existing, rows, category, expected):
    course = merge_answer(existing, rows)
    backup = backup_of(course)
    apply_rows(course, restore(course, backup).rows)
    again = restore(course, backup)
    assert again.rows == [] and not again.changed


def test_rows_sent_carry_only_what_changes():
    course = merge_answer((ACTIVE, 300, 600), [(DATABASE, ACTIVE, 100, 500)])
    assert restore(course, backup_of(course)).rows == [{'userid': U, 'timestart': 100}]


def test_row_of_a_disabled_instance_comes_back_suspended():
    course = answer([ue(U, DATABASE, ACTIVE, 0, 0)],
                    instances=[instance(MANUAL), instance(DATABASE, status=1)])
    plan = restore(course, backup_of(course))
    assert plan.rows == [{'userid': U, 'status': SUSPENDED, 'timestart': 0, 'timeend': 0}]


def test_row_of_a_disabled_instance_still_merges_into_an_active_manual_enrolment():
    # restore_user_enrolment() downgrades only when the user has no active manual enrolment.
    course = answer([ue(U, DATABASE, ACTIVE, 100, 500), ue(U, MANUAL, ACTIVE, 300, 600)],
                    instances=[instance(MANUAL), instance(DATABASE, status=1)])
    plan = restore(course, backup_of(course))
    assert plan.rows == [{'userid': U, 'timestart': 100}] and [u['userid'] for u in plan.updated] == [U]


@pytest.mark.parametrize('order,expected', [
    # The disabled cohort row comes first: created suspended, then the database row overwrites it.
    ([COHORT, DATABASE], {'status': ACTIVE, 'timestart': 100, 'timeend': 500}),
    # The database row comes first: created active; the disabled cohort's active row then merges
    # (it has no end while the manual enrolment has one).
    ([DATABASE, COHORT], {'status': ACTIVE, 'timestart': 50, 'timeend': 0}),
])
def test_rows_are_merged_in_the_order_of_their_instances_in_the_backup(order, expected):
    instances = [instance(MANUAL)] + [instance(iid, status=1 if iid == COHORT else 0) for iid in order]
    course = answer([ue(U, DATABASE, ACTIVE, 100, 500), ue(U, COHORT, ACTIVE, 50, 0)], instances=instances)
    [row] = restore(course, backup_of(course)).rows
    assert row == dict(expected, userid=U)


def test_roles_held_through_converted_enrolments_get_manual_copies():
    course = answer([ue(1, DATABASE), ue(2, COHORT), ue(3, DATABASE)],
                    [ra(1, STUDENT, DATABASE), ra(2, STUDENT, COHORT), ra(3, TEACHER, DATABASE),
                     ra(3, STUDENT, DATABASE)])
    plan = restore(course, backup_of(course))
    assert {r['userid']: r['roleids'] for r in plan.rows} == {1: [STUDENT], 2: [STUDENT], 3: [TEACHER, STUDENT]}
    assert plan.assigned_roles == [{'userid': 1, 'roleid': STUDENT}, {'userid': 2, 'roleid': STUDENT},
                                   {'userid': 3, 'roleid': TEACHER}, {'userid': 3, 'roleid': STUDENT}]


def test_manual_role_already_held_is_not_sent_again():
    course = answer([ue(1, DATABASE), ue(1, MANUAL)], [ra(1, STUDENT, DATABASE), ra(1, STUDENT)])
    plan = restore(course, backup_of(course))
    assert plan.rows == [] and [u['userid'] for u in plan.unchanged] == [1]


def test_kept_suspended_user_still_gets_the_role_copy():
    course = answer([ue(1, DATABASE), ue(1, MANUAL, SUSPENDED)], [ra(1, STUDENT, DATABASE)])
    plan = restore(course, backup_of(course))
    assert plan.rows == [{'userid': 1, 'roleids': [STUDENT]}]
    assert [u['userid'] for u in plan.kept_suspended] == [1]


def test_role_copy_alone_makes_an_active_manual_enrolment_updated():
    course = answer([ue(1, DATABASE), ue(1, MANUAL)], [ra(1, STUDENT, DATABASE)])
    plan = restore(course, backup_of(course))
    assert [u['userid'] for u in plan.updated] == [1] and plan.updated_enrolments == []


def test_roles_filter_selects_users_and_the_roles_copied():
    course = answer([ue(1, DATABASE), ue(3, DATABASE), ue(4, DATABASE)],
                    [ra(1, STUDENT, DATABASE), ra(3, TEACHER, DATABASE), ra(3, STUDENT, DATABASE)])
    plan = restore(course, backup_of(course), roles=['editingteacher'])
    assert plan.rows == [{'userid': 3, 'status': ACTIVE, 'timestart': 0, 'timeend': 0, 'roleids': [TEACHER]}]


def test_user_without_roles_is_restored_only_without_roles_filter():
    course = answer([ue(4, DATABASE)])
    assert [r['userid'] for r in restore(course, backup_of(course)).rows] == [4]
    assert restore(course, backup_of(course), roles=['student']).rows == []


def test_unknown_role_in_filter_is_refused_naming_the_option():
    course = answer([ue(1, DATABASE)], [ra(1, STUDENT, DATABASE)])
    with pytest.raises(PlanError) as err:
        restore(course, backup_of(course), roles=['studnet'])
    assert err.value.option == 'roles' and "'studnet'" in str(err.value)


def test_deleted_users_are_skipped():
    course = answer([ue(1, DATABASE, deleted=1), ue(2, DATABASE)], [ra(1, STUDENT, DATABASE)])
    plan = restore(course, backup_of(course))
    assert plan.skipped == [{'userid': 1, 'username': 'user1', 'reason': 'deleted'}]
    assert [r['userid'] for r in plan.rows] == [2]


def test_users_dropped_by_the_source_are_restored_from_the_backup():
    course = answer([ue(1, DATABASE, timestart=100, timeend=900), ue(2, COHORT)],
                    [ra(1, STUDENT, DATABASE), ra(2, STUDENT, COHORT)])
    backup = backup_of(course)
    dropped = answer([])
    plan = restore(dropped, backup)
    assert [(u['userid'], u['username']) for u in plan.created] == [(1, 'user1'), (2, 'user2')]
    assert plan.rows[0] == {'userid': 1, 'status': ACTIVE, 'timestart': 100, 'timeend': 900, 'roleids': [STUDENT]}


def test_query_selects_backup_rows():
    course = answer([ue(1, DATABASE, timestart=100), ue(1, COHORT, timestart=50), ue(2, COHORT)])
    plan = restore(course, backup_of(course), query="[?enrol == 'database']")
    assert plan.rows == [{'userid': 1, 'status': ACTIVE, 'timestart': 100, 'timeend': 0}]


@pytest.mark.parametrize('query', ['[?enrol ==', 'length(@)', '[].userid'])
def test_query_that_does_not_give_rows_is_refused(query):
    course = answer([ue(1, DATABASE)])
    with pytest.raises(PlanError) as err:
        restore(course, backup_of(course), query=query)
    assert err.value.option == 'query' and query in str(err.value)


def test_backed_up_role_missing_from_the_site_is_skipped_for_that_user_only():
    course = answer([ue(1, DATABASE), ue(2, DATABASE)],
                    [ra(1, STUDENT, DATABASE), ra(1, TEACHER, DATABASE), ra(2, STUDENT, DATABASE)])
    backup = backup_of(course)
    backup['enrolments'][0]['roles'][0].update(roleid=77, shortname='gone')
    plan = restore(course, backup)
    assert plan.rows == [{'userid': 1, 'status': ACTIVE, 'timestart': 0, 'timeend': 0, 'roleids': [STUDENT]},
                         {'userid': 2, 'status': ACTIVE, 'timestart': 0, 'timeend': 0, 'roleids': [STUDENT]}]
    assert plan.roles_skipped == [{'userid': 1, 'username': 'user1', 'reason': 'role_missing', 'role': 'gone'}]
    assert plan.counts()['roles_skipped'] == 1 and plan.counts()['created'] == 2


def test_backed_up_role_is_found_by_its_short_name_like_moodles_restore():
    course = answer([ue(1, DATABASE)], [ra(1, STUDENT, DATABASE)])
    backup = backup_of(course)
    backup['enrolments'][0]['roles'][0]['roleid'] = 77      # the role was deleted and made again: new id
    assert restore(course, backup).rows[0]['roleids'] == [STUDENT]


def manager_course(assignable):
    course = answer([ue(1, DATABASE), ue(2, DATABASE), ue(3, DATABASE), ue(3, MANUAL)],
                    [ra(1, STUDENT, DATABASE), ra(2, MANAGER, DATABASE), ra(2, STUDENT, DATABASE),
                     ra(3, MANAGER, DATABASE), ra(3, MANAGER)])
    course['assignableroles'] = assignable
    return course


def test_role_the_caller_may_not_assign_is_skipped_and_the_enrolment_converted_anyway():
    course = manager_course([TEACHER, STUDENT])
    plan = restore(course, backup_of(course))
    assert plan.rows == [{'userid': 1, 'status': ACTIVE, 'timestart': 0, 'timeend': 0, 'roleids': [STUDENT]},
                         {'userid': 2, 'status': ACTIVE, 'timestart': 0, 'timeend': 0, 'roleids': [STUDENT]}]
    assert plan.roles_skipped == [{'userid': 2, 'username': 'user2', 'reason': 'role_not_assignable',
                                   'role': 'manager'}], 'user 3 already holds a manual manager copy'
    assert [u['userid'] for u in plan.created] == [1, 2] and [u['userid'] for u in plan.unchanged] == [3]
    assert plan.assigned_roles == [{'userid': 1, 'roleid': STUDENT}, {'userid': 2, 'roleid': STUDENT}]


def test_without_the_assignable_list_every_role_is_planned_and_moodles_refusal_is_taken_in():
    course = manager_course(None)          # a companion plugin older than 2026120100
    del course['assignableroles']
    assert restore(course, backup_of(course)).rows[1]['roleids'] == [MANAGER, STUDENT]
    refused = restore(course, backup_of(course), refused_roles=[MANAGER])
    assert refused.rows[1]['roleids'] == [STUDENT] and refused.roles_skipped[0]['role'] == 'manager'


def test_roles_skipped_by_the_apply_call_leave_the_record_and_are_reported():
    course = manager_course([TEACHER, STUDENT, MANAGER])
    plan = restore(course, backup_of(course))
    plan.take_rolesskipped([{'userid': 2, 'ueid': 7, 'result': 'created', 'rolesassigned': [STUDENT],
                             'rolesskipped': [MANAGER]}])
    assert {'userid': 2, 'roleid': MANAGER} not in plan.assigned_roles
    assert plan.roles_skipped == [{'userid': 2, 'username': 'user2', 'reason': 'role_not_assignable',
                                   'role': 'manager'}]


def test_plan_without_manual_instance_creates_everyone():
    course = answer([ue(1, DATABASE)], instances=[instance(DATABASE)])
    assert [u['userid'] for u in restore(course, backup_of(course)).created] == [1]


def test_disabled_manual_instance_is_used_once_enabled():
    course = answer([ue(1, DATABASE), ue(1, DISABLED_MANUAL, timestart=5, timeend=900)],
                    instances=[instance(DISABLED_MANUAL, status=1), instance(DATABASE)])
    state = CourseState.from_api(course)
    assert state.manual_instance is None
    plan = plan_restore(backup_of(course), state, manual_instance=state.manual_instance_after_ensure())
    assert [u['userid'] for u in plan.updated] == [1] and plan.rows == [{'userid': 1, 'timestart': 0, 'timeend': 0}]


def test_diff_shows_each_changed_user_before_and_after():
    course = answer([ue(1, DATABASE), ue(2, DATABASE), ue(2, MANUAL, timestart=50, timeend=900)],
                    [ra(1, STUDENT, DATABASE)])
    diff = restore(course, backup_of(course)).diff
    assert diff['before'] == {'user2': {'status': 'active', 'timestart': 50, 'timeend': 900, 'roles': []}}
    assert diff['after'] == {'user1': {'status': 'active', 'timestart': 0, 'timeend': 0, 'roles': ['student']},
                             'user2': {'status': 'active', 'timestart': 0, 'timeend': 0, 'roles': []}}


# ------------------------------------------------------------------ undo

def restored_course():
    """user1 new (database), user2 had an active manual enrolment that the restore widened, user3 untouched."""
    course = answer([ue(1, DATABASE), ue(2, DATABASE, timestart=10), ue(2, MANUAL, timestart=50, timeend=900),
                     ue(3, MANUAL), ue(3, DATABASE)],
                    [ra(1, STUDENT, DATABASE), ra(2, STUDENT, DATABASE), ra(3, STUDENT), ra(3, STUDENT, DATABASE)])
    plan = restore(course, backup_of(course))
    apply_rows(course, plan.rows)
    return course, plan.record_changes()


def test_undo_removes_only_what_the_restore_created():
    course, record = restored_course()
    undo = plan_undo(record, CourseState.from_api(course))
    assert undo.remove_rows == [{'userid': 1, 'unenrol': 1, 'roleids': [STUDENT]},
                                {'userid': 2, 'unenrol': 0, 'roleids': [STUDENT]}]
    assert undo.revert_rows == [{'userid': 2, 'timestart': 50, 'timeend': 900}]
    assert [u['userid'] for u in undo.removed] == [1]


def test_undo_twice_changes_nothing_the_second_time():
    course, record = restored_course()
    undo = plan_undo(record, CourseState.from_api(course))
    remove_rows(course, undo.remove_rows)
    apply_rows(course, undo.revert_rows)
    state = CourseState.from_api(course)
    assert state.manual_enrolment(1) is None and state.manual_enrolment(2)['timestart'] == 50
    assert state.manual_enrolment(2)['timeend'] == 900
    assert state.manual_enrolment(3) is not None and state.manual_roleids(3) == {STUDENT}
    assert not plan_undo(record, state).changed


def test_undo_leaves_a_field_changed_since_the_restore():
    course, record = restored_course()
    [manual] = [u for u in course['userenrolments'] if u['userid'] == 2 and u['enrolid'] == MANUAL]
    manual['timestart'] = 5
    undo = plan_undo(record, CourseState.from_api(course))
    assert undo.revert_rows == [{'userid': 2, 'timeend': 900}]
    assert undo.left_alone == [{'userid': 2, 'username': 'user2', 'field': 'timestart', 'expected': 10, 'found': 5}]


def test_undo_is_one_row_per_user_with_the_fields_put_back():
    course, record = restored_course()
    undo = plan_undo(record, CourseState.from_api(course))
    assert undo.rows == [{'userid': 1, 'unenrol': 1, 'roleids': [STUDENT]},
                         {'userid': 2, 'unenrol': 0, 'timestart': 50, 'timeend': 900, 'roleids': [STUDENT]}]
    assert undo.counts() == {'removed': 1, 'reverted': 1, 'roles_unassigned': 2, 'left_alone': 0}
    assert undo.diff['after'] == {'user2': {'status': 'active', 'timestart': 50, 'timeend': 900, 'roles': []}}


def test_undo_reports_an_enrolment_from_before_that_was_removed_since():
    course, record = restored_course()
    course['userenrolments'] = [u for u in course['userenrolments'] if not (u['userid'] == 2 and u['enrolid'] == MANUAL)]
    undo = plan_undo(record, CourseState.from_api(course))
    assert undo.left_alone == [{'userid': 2, 'username': 'user2', 'field': 'enrolment', 'expected': 'present',
                                'found': 'absent'}]
    assert [row['userid'] for row in undo.rows] == [1, 2]         # user2's role copy still goes


def test_undo_removes_a_created_enrolment_only_as_the_runs_left_it():
    course, record = restored_course()
    record = dict(record, created_after=[{'userid': 1, 'after': {'status': 0, 'timestart': 0, 'timeend': 777}}])
    undo = plan_undo(record, CourseState.from_api(course))         # its end is 0 now, not 777: changed since
    assert undo.removed == [] and [row['userid'] for row in undo.rows] == [2]
    assert undo.left_alone == [{'userid': 1, 'username': 'user1', 'field': 'timeend', 'expected': 777, 'found': 0}]


# ------------------------------------------------------------------ settled users

def test_end_set_after_a_restore_is_merged_away_by_moodles_rule_unless_settled():
    course = answer([ue(1, DATABASE), ue(1, MANUAL, timeend=900)], [ra(1, STUDENT, DATABASE), ra(1, STUDENT)])
    backup = backup_of(course)
    assert restore(course, backup).rows == [{'userid': 1, 'timeend': 0}]
    settled = restore(course, backup, settled=[1])
    assert settled.rows == [] and [u['userid'] for u in settled.unchanged] == [1]


def test_settled_user_still_gets_a_missing_role_copy():
    course = answer([ue(1, DATABASE), ue(1, MANUAL, timeend=900)], [ra(1, STUDENT, DATABASE)])
    assert restore(course, backup_of(course), settled=[1]).rows == [{'userid': 1, 'roleids': [STUDENT]}]


def test_settled_user_whose_manual_enrolment_was_removed_is_created_again():
    course = answer([ue(1, DATABASE)], [ra(1, STUDENT, DATABASE)])
    assert [u['userid'] for u in restore(course, backup_of(course), settled=[1]).created] == [1]


def test_applied_record_settles_every_restored_user_but_not_skipped_ones():
    course = answer([ue(1, DATABASE), ue(2, DATABASE, deleted=1), ue(3, DATABASE), ue(3, MANUAL, SUSPENDED)])
    plan = restore(course, backup_of(course))
    assert 'settled_users' not in plan.record_changes()
    assert plan.record_changes(applied=True)['settled_users'] == [1, 3]
    assert plan.record_changes(applied=True)['deleted_users'] == [2]


def test_user_moodle_refused_as_deleted_before_is_not_sent_again():
    course = answer([ue(1, DATABASE), ue(2, DATABASE)])
    backup = backup_of(course)
    gone = answer([ue(2, DATABASE)])
    plan = restore(gone, backup, deleted=[1])
    assert [r['userid'] for r in plan.rows] == [2]
    assert plan.skipped == [{'userid': 1, 'username': 'user1', 'reason': 'deleted'}]
