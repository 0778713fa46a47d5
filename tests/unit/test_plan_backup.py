# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup documents built from a course: what they hold, and when two are the same."""

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    CourseState, PlanError, backup_counts, backup_diff, backup_from_state, backup_users, plan_restore,
    same_backup)
from tests.unit.test_plan_fixtures import (
    COHORT, DATABASE, MANUAL, SITE, STUDENT, TEACHER, answer, apply_rows, ue, ra)


def course_answer():
    return answer([ue(7, COHORT, status=1), ue(3, DATABASE, timestart=100, timeend=900), ue(3, COHORT),
                   ue(5, MANUAL)],
                  [ra(3, STUDENT, DATABASE), ra(3, TEACHER, COHORT), ra(3, STUDENT), ra(5, STUDENT),
                   ra(7, STUDENT, COHORT)])


def backup(course, methods=('database', 'cohort')):
    return backup_from_state(CourseState.from_api(course), list(methods), SITE, '2026-08-20T10:00:00Z')


def test_backup_holds_rows_of_selected_methods_sorted_by_user_and_instance():
    document = backup(course_answer())
    assert [(r['userid'], r['instanceid']) for r in document['enrolments']] == [(3, DATABASE), (3, COHORT),
                                                                                (7, COHORT)]
    assert [i['id'] for i in document['instances']] == [DATABASE, COHORT]
    assert document['methods'] == ['cohort', 'database']
    assert document['enrolments'][0] == {
        'userid': 3, 'username': 'user3', 'enrol': 'database', 'instanceid': DATABASE, 'status': 0,
        'timestart': 100, 'timeend': 900,
        'roles': [{'roleid': STUDENT, 'shortname': 'student', 'component': 'enrol_database', 'itemid': DATABASE}]}


def test_backup_records_only_roles_the_enrolment_itself_carries():
    document = backup(course_answer())
    cohort_row = document['enrolments'][1]
    assert [r['shortname'] for r in cohort_row['roles']] == ['editingteacher']


def test_backup_holds_no_personal_data_beyond_username():
    document = backup(course_answer())
    assert set(document['enrolments'][0]) == {'userid', 'username', 'enrol', 'instanceid', 'status', 'timestart',
                                              'timeend', 'roles'}
    assert set(document['instances'][0]) == {'id', 'enrol', 'name', 'status', 'roleid', 'cohortid'}


def test_all_covers_every_method():
    document = backup(course_answer(), ['all'])
    assert document['methods'] == ['cohort', 'database', 'manual']
    assert len(document['enrolments']) == 4


def test_method_name_that_cannot_exist_is_refused():
    with pytest.raises(PlanError) as err:
        backup(course_answer(), ['data base'])
    assert err.value.option == 'methods'


def test_a_restore_does_not_change_the_next_backup():
    course = course_answer()
    first = backup(course)
    apply_rows(course, plan_restore(first, CourseState.from_api(course)).rows)
    second = backup(course)
    assert same_backup(first, second)


def test_a_dropped_user_makes_the_next_backup_differ():
    course = course_answer()
    first = backup(course)
    course['userenrolments'] = [u for u in course['userenrolments'] if u['userid'] != 7]
    assert not same_backup(first, backup(course))


def test_counts_per_method_and_status():
    assert backup_counts(backup(course_answer())) == {'cohort': {'active': 1, 'suspended': 1},
                                                      'database': {'active': 1, 'suspended': 0}}


def test_users_list_names_method_and_status():
    assert backup_users(backup(course_answer()))[-1] == {'userid': 7, 'username': 'user7', 'enrol': 'cohort',
                                                         'status': 'suspended'}


def test_diff_names_only_users_whose_rows_differ():
    course = course_answer()
    first = backup(course)
    course['userenrolments'] = [u for u in course['userenrolments'] if u['userid'] != 7]
    diff = backup_diff(first, backup(course))
    assert list(diff['before']) == ['user7'] and diff['after'] == {}
    assert list(backup_diff(None, first)['after']) == ['user3', 'user7']


def test_pages_are_merged():
    course = course_answer()
    second_page = dict(course, userenrolments=[ue(9, DATABASE)], roleassignments=[ra(9, STUDENT, DATABASE)])
    state = CourseState.from_api([course, second_page])
    assert state.username(9) == 'user9' and 9 in state.enrolments_by_user
