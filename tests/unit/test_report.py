# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keep_access run report: per-course records, totals, CSV and table."""

import csv
import io

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.cemu.moodle.plugins.filter.keep_access_report import (
    CSV_COLUMNS, FilterModule, keep_access_course_result, keep_access_host_result, keep_access_report)
from ansible_collections.cemu.moodle.plugins.module_utils.module_base import USER_LIST_RESULTS

SITE = 'https://moodle.example.edu'

BACKUP = {'changed': True, 'backup_written': True,
          'backup_file': '/b/moodle.example.edu/course-2/enrolments-20260820T100000.000000Z.json',
          'course': {'id': 2, 'shortname': 'KA1', 'idnumber': 'KA-2026-1', 'fullname': 'KA1'}}
RESTORE = {'changed': True, 'backup_file': BACKUP['backup_file'],
           'created': [{'userid': 5, 'username': 'student0001'}, {'userid': 6, 'username': 'student0002'}],
           'updated': [{'userid': 7, 'username': 'student0003'}],
           'unchanged': [{'userid': 8, 'username': 'teacher01'}],
           'skipped_users': [{'userid': 9, 'username': 'student0009', 'reason': 'deleted'},
                             {'userid': 11, 'username': 'manager01', 'reason': 'role_not_assignable',
                              'role': 'manager'}],
           'kept_suspended': [{'userid': 10, 'username': 'student0010'}]}
END = {'changed': True, 'end': 1806537599, 'end_iso': '2027-03-31T23:59:59+02:00',
       'changed_users': [{'userid': 5, 'username': 'student0001'}, {'userid': 6, 'username': 'student0002'}],
       'counts': {'selected': 3, 'changed': 2, 'unchanged': 1}}


def unchanged(result):
    return dict(result, changed=False)


def test_course_result_counts_converted_end_dates_and_skipped_users_with_reasons():
    record = keep_access_course_result(BACKUP, RESTORE, END, course='KA1', site=SITE)
    assert record['status'] == 'changed'
    assert (record['course_id'], record['converted'], record['created'], record['updated']) == (2, 3, 2, 1)
    assert record['end_dates_set'] == 2
    assert record['end'] == '2027-03-31T23:59:59+02:00'
    assert record['backup_file'] == BACKUP['backup_file']
    assert record['skipped'] == [{'username': 'student0009', 'reason': 'deleted'},
                                 {'username': 'manager01', 'reason': 'role_not_assignable', 'role': 'manager'},
                                 {'username': 'student0010', 'reason': 'kept_suspended'}]


def without_user_lists(result):
    """``result`` as a module returns it with user_lists=false: the per-user lists left out, counts kept."""
    return dict((key, value) for key, value in result.items() if key not in USER_LIST_RESULTS)


def test_course_result_counts_from_the_counts_when_the_steps_left_out_their_user_lists():
    restore = dict(without_user_lists(RESTORE), counts={
        'created': 2, 'updated': 1, 'unchanged': 1, 'skipped': 1, 'roles_skipped': 1, 'kept_suspended': 1,
        'end_dates_set': 2})
    record = keep_access_course_result(BACKUP, restore, without_user_lists(END), course='KA1', site=SITE)
    full = keep_access_course_result(BACKUP, dict(RESTORE, end_dates_set=[{'userid': 5}, {'userid': 6}]), END,
                                     course='KA1', site=SITE)
    assert (record['converted'], record['created'], record['updated'], record['unchanged']) == (3, 2, 1, 1)
    assert record['end_dates_set'] == 4 == full['end_dates_set']
    assert record == full


def test_course_result_is_ok_when_no_step_changed_anything():
    record = keep_access_course_result(unchanged(BACKUP), unchanged(RESTORE), unchanged(END), course='KA1', site=SITE)
    assert record['status'] == 'ok'


def test_check_mode_reports_no_backup_file_because_it_was_temporary():
    record = keep_access_course_result(BACKUP, RESTORE, END, course='KA1', site=SITE, check_mode=True)
    assert record['backup_file'] is None
    assert record['converted'] == 3


def test_failed_course_keeps_the_message_step_and_what_ran_before():
    failure = {'failed': True, 'msg': "course 'KA4' has no enabled manual enrolment instance"}
    record = keep_access_course_result(BACKUP, None, None, course='KA4', site=SITE, failure=failure,
                                       failed_step='Restore them as manual enrolments')
    assert record['status'] == 'failed'
    assert record['message'] == "course 'KA4' has no enabled manual enrolment instance"
    assert record['failed_step'] == 'Restore them as manual enrolments'
    assert record['backup_file'] == BACKUP['backup_file']
    assert record['converted'] == 0


def test_failure_before_any_step_still_gives_a_record():
    record = keep_access_course_result(None, None, None, course='KA9', site=SITE,
                                       failure={'msg': 'boom'}, failed_step='Back up the automatic enrolments')
    assert (record['course'], record['status'], record['message'], record['course_id']) == ('KA9', 'failed', 'boom', None)


def records():
    return [
        keep_access_course_result(BACKUP, RESTORE, END, course='KA1', site=SITE),
        keep_access_course_result(unchanged(BACKUP), unchanged(RESTORE), unchanged(END), course='KA2', site=SITE),
        keep_access_course_result(BACKUP, None, None, course='KA4', site=SITE,
                                  failure={'msg': 'no manual instance'}, failed_step='Restore them as manual enrolments'),
    ]


def test_report_totals_and_failed_courses():
    report = keep_access_report(records(), generated_at='2026-08-20T10:00:00Z')
    summary = report['summary']
    assert summary['totals'] == {'courses': 3, 'changed': 1, 'ok': 1, 'failed': 1,
                                 'converted': 6, 'end_dates_set': 4, 'skipped': 6, 'missing_methods': {},
                                 'removed': 0, 'reverted': 0, 'left_alone': 0}
    assert summary['failed'] == [{'site': SITE, 'course': 'KA4', 'step': 'Restore them as manual enrolments',
                                  'message': 'no manual instance'}]
    assert [c['course'] for c in summary['courses']] == ['KA1', 'KA2', 'KA4']
    assert summary['generated_at'] == '2026-08-20T10:00:00Z'
    assert report['file_stem'] == 'keep-access-report-20260820T100000.000000Z'


def test_report_drops_hosts_without_a_record():
    report = keep_access_report([None, 'junk'] + records()[:1])
    assert report['summary']['totals']['courses'] == 1


def test_hosts_without_a_record_are_reported_as_failed():
    report = keep_access_report(records()[:1], hosts=['KA1', 'KA7'])
    ka7 = [c for c in report['summary']['courses'] if c['course'] == 'KA7'][0]
    assert ka7['status'] == 'failed' and 'stopped before keep_access' in ka7['message']
    assert report['summary']['totals']['failed'] == 1
    assert [f['course'] for f in report['summary']['failed']] == ['KA7']


def test_report_csv_has_one_row_per_course_with_skip_reasons():
    rows = list(csv.DictReader(io.StringIO(keep_access_report(records())['csv'])))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    ka1 = rows[0]
    assert (ka1['course'], ka1['status'], ka1['converted'], ka1['end_dates_set']) == ('KA1', 'changed', '3', '2')
    assert ka1['skipped_reasons'] == 'deleted: 1; kept_suspended: 1; role_not_assignable manager: 1'
    assert rows[2]['message'] == 'no manual instance' and rows[2]['status'] == 'failed'


def test_table_shows_each_course_totals_and_the_failure():
    table = keep_access_report(records(), check_mode=True)['table']
    assert 'check mode' in table[0]
    ka1_line = next(line for line in table if line.startswith('KA1 '))
    assert 'changed' in ka1_line and 'enrolments-20260820T100000.000000Z.json' in ka1_line
    assert 'role_not_assignable manager: 1' in ka1_line, 'a role copy not given is listed with its role'
    assert '/b/moodle.example.edu' not in ka1_line
    assert any(line.startswith('totals: 3 courses (1 changed, 1 ok, 1 failed)') for line in table)
    assert table[-1] == 'FAILED KA4 [Restore them as manual enrolments]: no manual instance'


def test_table_columns_line_up():
    table = keep_access_report(records())['table']
    header, rule = table[1], table[2]
    assert header.index('status') == rule.index(' ', rule.index('-')) + 2


def test_report_rejects_something_that_is_not_a_list():
    with pytest.raises(AnsibleFilterError):
        keep_access_report({'KA1': {}})


def test_filters_are_registered_under_their_names():
    assert set(FilterModule().filters()) == {'keep_access_course_result', 'keep_access_host_result', 'keep_access_report'}


def host(**variables):
    """A course host's variables as the role leaves them (hostvars[host])."""
    return dict({'inventory_hostname': 'KA1', 'moodle_url': SITE}, **variables)


def test_host_result_is_built_from_the_registered_results_of_a_successful_course():
    record = keep_access_host_result(host(keep_access_backup=BACKUP, keep_access_restore=RESTORE,
                                          keep_access_end_result=END))
    assert record == keep_access_course_result(BACKUP, RESTORE, END, course='KA1', site=SITE)
    assert record['status'] == 'changed' and record['converted'] == 3


def test_host_result_prefers_the_failure_the_role_recorded():
    failed = keep_access_course_result(BACKUP, None, None, course='KA1', site=SITE,
                                       failure={'msg': 'no manual instance'}, failed_step='Restore')
    record = keep_access_host_result(host(keep_access_backup=BACKUP, keep_access_result=failed))
    assert record['status'] == 'failed' and record['message'] == 'no manual instance'


def test_host_result_in_check_mode_has_no_backup_file_and_site_from_the_environment():
    variables = host(keep_access_backup=BACKUP, keep_access_restore=RESTORE, keep_access_end_result=END)
    del variables['moodle_url']
    record = keep_access_host_result(variables, check_mode=True, default_site='https://env.example.edu')
    assert record['backup_file'] is None and record['site'] == 'https://env.example.edu'


def test_host_the_role_did_not_run_for_has_no_record_and_is_reported_as_not_run():
    assert keep_access_host_result(host()) is None
    report = keep_access_report([keep_access_host_result(host())], hosts=['KA1'])
    assert report['summary']['courses'][0]['status'] == 'failed'


def test_host_result_says_which_end_date_the_course_got_and_why():
    results = dict(keep_access_backup=BACKUP, keep_access_restore=RESTORE, keep_access_end_result=END)
    own = keep_access_host_result(host(keep_access_end='course_end', moodle_course_enddate=1814313600, **results))
    assert own['end_reason'] == 'course end date 2027-06-30 00:00 UTC'
    fallback = keep_access_host_result(host(keep_access_end='course_end', moodle_course_enddate=0,
                                            keep_access_end_fallback='2027-09-30', **results))
    assert fallback['end_reason'] == 'keep_access_end_fallback 2027-09-30: the course has no end date'
    same = keep_access_host_result(host(keep_access_end='2027-03-31', **results))
    assert same['end_reason'] == 'keep_access_end for every course'
    row = next(csv.DictReader(io.StringIO(keep_access_report([own])['csv'])))
    assert row['end_reason'] == 'course end date 2027-06-30 00:00 UTC'


def test_a_course_without_one_of_the_methods_is_in_the_report_not_a_failure():
    single = dict(BACKUP, missing_methods=['cohort'])
    records = [keep_access_course_result(single, RESTORE, END, course='KA%d' % n, site=SITE) for n in (1, 2)]
    report = keep_access_report(records)
    assert report['summary']['totals']['missing_methods'] == {'cohort': 2}
    assert [r['status'] for r in report['summary']['courses']] == ['changed', 'changed']
    assert report['table'][-1].endswith('skipped; courses without cohort: 2')
    assert [row['missing_methods'] for row in csv.DictReader(io.StringIO(report['csv']))] == ['cohort', 'cohort']


def test_a_big_run_prints_only_the_courses_that_need_a_look():
    fine = keep_access_course_result(BACKUP, dict(RESTORE, skipped_users=[], kept_suspended=[]), END, site=SITE)
    records = [dict(fine, course='C%03d' % n) for n in range(200)]
    records[7] = keep_access_course_result(BACKUP, RESTORE, END, course='C007', site=SITE)
    records[9] = keep_access_course_result(BACKUP, None, None, course='C009', site=SITE, failure={'msg': 'boom'},
                                           failed_step='Restore them as manual enrolments')
    report = keep_access_report(records)
    table = report['table']
    assert [line.split()[0] for line in table[3:5]] == ['C007', 'C009']
    assert table[5] == ('(2 of 200 courses listed: those that failed, skipped users or left fields alone; '
                        'every course is in the report files)')
    assert len(table) == 8 and table[-1].startswith('FAILED C009')
    assert len(report['summary']['courses']) == 200 and report['csv'].count('\n') == 201
    assert len(keep_access_report(records[:20])['table']) == 3 + 20 + 2     # a small run lists every course
    quiet = keep_access_report([dict(fine, course='C%03d' % n) for n in range(30)])['table']
    assert quiet[1].startswith('(0 of 30 courses listed') and len(quiet) == 3   # no empty table head


# ------------------------------------------------------------------ undo (keep_access_state=absent)
SKIPPED_TASK = {'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False'}
UNDO = {'changed': True, 'course': {'id': 2, 'shortname': 'KA1', 'idnumber': 'KA-2026-1', 'fullname': 'KA1'},
        'removed': [{'userid': 5, 'username': 'student0001'}, {'userid': 6, 'username': 'student0002'}],
        'reverted': [{'userid': 7, 'username': 'student0003'}], 'roles_unassigned': 2,
        'left_alone': [{'userid': 8, 'username': 'student0004', 'field': 'timeend',
                        'expected': 1806537599, 'found': 1830297599}]}


def test_an_undo_says_per_course_what_was_reverted_and_what_was_left_alone():
    record = keep_access_course_result(SKIPPED_TASK, UNDO, SKIPPED_TASK, course='KA1', site=SITE)
    assert (record['state'], record['status'], record['course_id']) == ('absent', 'changed', 2)
    assert (record['removed'], record['reverted'], record['roles_unassigned'], record['converted']) == (2, 1, 2, 0)
    assert record['left_alone'] == [{'username': 'student0004', 'field': 'timeend', 'expected': 1806537599,
                                     'found': 1830297599}]
    report = keep_access_report([record], generated_at='2026-08-20T10:00:00Z')
    assert report['table'][0] == 'keep_access undo report'
    assert report['table'][1].split() == ['course', 'status', 'removed', 'reverted', 'roles', 'unassigned', 'left',
                                          'alone']
    assert report['table'][3].split() == ['KA1', 'changed', '2', '1', '2', '1']
    assert report['table'][-1] == 'LEFT ALONE KA1: student0004 timeend: expected 1806537599, found 1830297599'
    row = next(csv.DictReader(io.StringIO(report['csv'])))
    assert (row['state'], row['removed'], row['left_alone']) == ('absent', '2', '1')
    assert report['summary']['totals']['left_alone'] == 1


def test_an_undo_without_user_lists_counts_from_the_counts():
    undo = dict(without_user_lists(UNDO), counts={'removed': 2, 'reverted': 1, 'roles_unassigned': 2, 'left_alone': 1})
    record = keep_access_course_result(SKIPPED_TASK, undo, SKIPPED_TASK, course='KA1', site=SITE)
    assert record == keep_access_course_result(SKIPPED_TASK, UNDO, SKIPPED_TASK, course='KA1', site=SITE)
    assert (record['removed'], record['reverted']) == (2, 1)


def test_an_undo_with_nothing_left_is_ok():
    record = keep_access_course_result(SKIPPED_TASK, dict(UNDO, changed=False, removed=[], reverted=[],
                                                          roles_unassigned=0, left_alone=[]), SKIPPED_TASK,
                                       course='KA1', site=SITE)
    assert (record['state'], record['status'], record['removed']) == ('absent', 'ok', 0)


def test_a_failed_undo_is_reported_as_an_undo_that_failed():
    failure = {'failed': True, 'msg': "course 'KA1' (id 2): local_keepaccess_claim_course: the course is claimed"}
    record = keep_access_course_result(SKIPPED_TASK, failure, None, course='KA1', site=SITE, failure=failure,
                                       failed_step='Restore them as manual enrolments')
    assert (record['state'], record['status'], record['removed']) == ('absent', 'failed', 0)
    assert record['message'] == failure['msg']
