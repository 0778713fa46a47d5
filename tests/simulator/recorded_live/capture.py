# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capture the snapshots in this folder from a live test Moodle, READ-ONLY.

    MOODLE_URL=http://127.0.0.1:8080 MOODLE_TOKEN=... python -m tests.simulator.recorded_live.capture

MOODLE_TOKEN is the keep_access service user's token (cli/create_service_user.php). The script only
reads, and sends write functions only requests the plugin or Moodle refuses before writing anything
(bad parameters, unknown ids, refused roles); the cases that are refused only because KA4 has no
manual instance are sent only while it has none. It waits (up to --wait seconds) until the site
holds the fixture as tests/live/build_fixture.php leaves it, and never runs the fixture scripts.
The token never reaches a file: requests are stored with ``<TOKEN>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from tests.simulator.client import php_fields, rest
from tests.simulator.recorded_live import BUILT_FIXTURE, COURSES, SNAPSHOT_DIR, counts_of

FAR_FUTURE = 4102444799
UNKNOWN_ID = 987654
# Ids on the site built by build_fixture.php (the simulator's `recorded` fixture has the same ones).
COURSE_IDS = {'KA1': 2, 'KA2': 3, 'KA3': 4, 'KA4': 5, 'BIG1': 6}
PROBE, OTHER, KA4_USER = 45, 46, 94          # student0101, student0102 (KA2 only), student0301 (KA4)
MANAGER, STUDENT = 1, 5
APPLY, REMOVE = 'local_keepaccess_apply_manual_enrolments', 'local_keepaccess_remove_manual_enrolments'
READ = 'local_keepaccess_get_course_enrolments'


def reads():
    """(case, function, params, note) of plain reads."""
    cases = [
        ('service_user', 'core_webservice_get_site_info', {},
         'Site info for the least-privilege keep_access service user: not a site admin, file limits of a user.'),
        ('shortname_KA1', 'core_course_get_courses_by_field', {'field': 'shortname', 'value': 'KA1'},
         'Without moodle/course:update the answer has no idnumber, timecreated, cacherev, ... keys at all.'),
        ('front_page', 'core_course_get_courses_by_field', {'field': 'id', 'value': '1'},
         'The site front page is returned like a course: format site, no courseformatoptions key.'),
        ('all', 'core_course_get_courses_by_field', {},
         'No field: every course, the front page (id 1) first.'),
        ('all', 'core_course_get_categories', {},
         'Without moodle/category:manage: no idnumber, visible, visibleold, timemodified, theme.'),
        ('criteria_idnumber', 'core_course_get_categories', {'criteria': [{'key': 'idnumber', 'value': 'x'}]},
         'Searching on idnumber needs moodle/category:manage: criteriaerror.'),
        ('criteria_unknown', 'core_course_get_categories', {'criteria': [{'key': 'colour', 'value': 'x'}]},
         'An unknown criterion is criteriaerror, not invalidparameter.'),
        ('BIG1_first_page', READ, {'courseid': COURSE_IDS['BIG1'], 'maxusers': 2},
         'Paging by user: nextfromuserid is the last user id of a page that is not the last one.'),
    ]
    for shortname in ('KA1', 'KA2', 'KA3', 'KA4'):
        cases.append((shortname, READ, {'courseid': COURSE_IDS[shortname]},
                      '%s as build_fixture.php leaves it, every user on one page.' % shortname))
    return cases


def refused_writes():
    """(case, function, params, note) the real site refuses before writing anything."""
    ka1 = COURSE_IDS['KA1']
    return [
        ('unknown_user', APPLY, {'courseid': ka1, 'enrolments': [{'userid': UNKNOWN_ID}]}, 'unknownuser'),
        ('same_user_twice', APPLY, {'courseid': ka1, 'enrolments': [{'userid': PROBE}, {'userid': PROBE}]},
         'duplicateuser'),
        ('duplicate_before_unknown', APPLY, {'courseid': ka1, 'enrolments': [
            {'userid': UNKNOWN_ID}, {'userid': PROBE}, {'userid': PROBE}]},
         'Every row is checked for duplicates before any row is looked up: duplicateuser, not unknownuser.'),
        ('end_before_start', APPLY, {'courseid': ka1, 'enrolments': [
            {'userid': PROBE, 'timestart': 2000000000, 'timeend': 1900000000}]}, 'invalidtimes'),
        ('bad_status', APPLY, {'courseid': ka1, 'enrolments': [{'userid': PROBE, 'status': 2}]}, 'invalidstatus'),
        ('unknown_key', APPLY, {'courseid': ka1, 'enrolments': [{'userid': PROBE, 'roleid': STUDENT}]},
         'Parameter validation: invalidparameter.'),
        ('unknown_user_before_role', APPLY, {'courseid': ka1, 'enrolments': [
            {'userid': UNKNOWN_ID, 'roleids': [MANAGER]}]}, 'Users are checked before roles: unknownuser.'),
        ('role_not_assignable_bad_times', APPLY, {'courseid': ka1, 'enrolments': [
            {'userid': OTHER, 'roleids': [MANAGER], 'timestart': 2000000000, 'timeend': 1900000000}]},
         'A role the service user may not assign (manager) refuses nothing since local_keepaccess 2026120100 '
         '(it would be skipped, rolesskipped); the times refuse the row: invalidtimes.'),
        ('unknown_course', APPLY, {'courseid': UNKNOWN_ID, 'enrolments': [{'userid': PROBE}]}, 'coursenotfound'),
        ('unknown_course', READ, {'courseid': UNKNOWN_ID}, 'coursenotfound'),
        ('front_page', READ, {'courseid': 1}, 'The front page is not a course here: coursenotfound.'),
        ('negative_maxusers', READ, {'courseid': ka1, 'maxusers': -1}, 'invalidpaging'),
        ('paging_before_course', READ, {'courseid': UNKNOWN_ID, 'fromuserid': -1},
         'Paging is checked before the course: invalidpaging.'),
        ('unknown_course', 'local_keepaccess_ensure_manual_instance', {'courseid': UNKNOWN_ID}, 'coursenotfound'),
        ('duplicate_user', REMOVE, {'courseid': ka1, 'enrolments': [
            {'userid': UNKNOWN_ID}, {'userid': PROBE}, {'userid': PROBE}]}, 'duplicateuser before unknownuser.'),
        ('unknown_user', REMOVE, {'courseid': ka1, 'enrolments': [{'userid': UNKNOWN_ID, 'unenrol': 1}]},
         'unknownuser'),
        ('manager_not_assignable', REMOVE, {'courseid': ka1, 'enrolments': [
            {'userid': OTHER, 'roleids': [MANAGER]}]}, 'Unassigning needs the role to be assignable too.'),
        ('bad_field', 'core_course_get_courses_by_field', {'field': 'name', 'value': 'x'}, 'invalidparameter'),
    ]


def refused_without_ka4_manual():
    """Cases refused only because KA4 has no manual instance (sent only while it has none)."""
    ka4 = COURSE_IDS['KA4']
    return [
        ('no_manual_instance', APPLY, {'courseid': ka4, 'enrolments': [{'userid': KA4_USER}]}, 'nomanualinstance'),
        ('no_manual_instance', REMOVE, {'courseid': ka4, 'enrolments': [{'userid': KA4_USER, 'unenrol': 1}]},
         'Unenrolling needs the manual instance: nomanualinstance.'),
        ('wsnoinstance', 'enrol_manual_enrol_users', {'enrolments': [
            {'roleid': STUDENT, 'userid': KA4_USER, 'courseid': ka4}]}, 'wsnoinstance'),
    ]


class LiveSite:
    def __init__(self, url, token):
        self.url, self.token = url.rstrip('/'), token

    def send(self, function, params, token=None):
        response = rest(self.url, token or self.token, function, params)
        response.raise_for_status()
        return response.json()

    def counts(self):
        return dict((shortname, counts_of(self.send(READ, {'courseid': COURSE_IDS[shortname]})))
                    for shortname in COURSES)

    def wait_until_built(self, seconds):
        deadline = time.monotonic() + seconds
        while self.counts() != BUILT_FIXTURE:
            if time.monotonic() >= deadline:
                return False
            time.sleep(10)
        return True

    def ka4_has_manual_instance(self):
        answer = self.send(READ, {'courseid': COURSE_IDS['KA4'], 'maxusers': 1})
        return any(i['enrol'] == 'manual' for i in answer['instances'])


def request_fields(function, params, token='<TOKEN>'):
    fields = [('wstoken', token), ('wsfunction', function), ('moodlewsrestformat', 'json')] + php_fields(params)
    return dict(fields)


def scrub(answer):
    """The private access key out of a site-info answer."""
    if isinstance(answer, dict) and 'userprivateaccesskey' in answer:
        answer = dict(answer, userprivateaccesskey='<KEY>')
    return answer


def snapshot(site, case, function, params, note, outcome):
    answer = scrub(site.send(function, params))
    if outcome == 'error' and not (isinstance(answer, dict) and 'exception' in answer):
        raise RuntimeError('%s.%s: the live site accepted a request meant to be refused' % (function, case))
    return {'function': function, 'case': case, 'request': request_fields(function, params), 'response': answer,
            'note': note}


def paging_snapshot(site, maxusers=700):
    """BIG1 read page by page: users per page and nextfromuserid (the answers themselves are large)."""
    pages, fromuserid = [], 0
    while True:
        params = {'courseid': COURSE_IDS['BIG1'], 'fromuserid': fromuserid, 'maxusers': maxusers}
        page = site.send(READ, params)
        pages.append({'fromuserid': fromuserid, 'users': len(set(ue['userid'] for ue in page['userenrolments'])),
                      'nextfromuserid': page['nextfromuserid']})
        fromuserid = page['nextfromuserid']
        if not fromuserid:
            return {'function': READ, 'case': 'BIG1_paging', 'request': request_fields(READ, {
                'courseid': COURSE_IDS['BIG1'], 'maxusers': maxusers}), 'pages': pages,
                'note': 'BIG1 (2000 students, nobody else) in pages of %d users.' % maxusers}


def write(record, outcome):
    name = '%s.%s.%s.json' % (record['function'], record['case'], outcome)
    with open(os.path.join(SNAPSHOT_DIR, name), 'w', encoding='utf-8') as handle:
        json.dump(record, handle, indent=1, sort_keys=False)
        handle.write('\n')
    return name


def capture(site):
    written = []
    for case, function, params, note in reads():
        outcome = 'error' if case.startswith('criteria_') else 'ok'
        written.append(write(snapshot(site, case, function, params, note, outcome), outcome))
    for case, function, params, note in refused_writes():
        written.append(write(snapshot(site, case, function, params, note, 'error'), 'error'))
    if not site.ka4_has_manual_instance():
        for case, function, params, note in refused_without_ka4_manual():
            written.append(write(snapshot(site, case, function, params, note, 'error'), 'error'))
    written.append(write(invalid_token_snapshot(site), 'error'))
    written.append(write(paging_snapshot(site), 'ok'))
    return written


def invalid_token_snapshot(site):
    answer = site.send('core_webservice_get_site_info', {}, token='not-a-token-0123456789')
    return {'function': 'core_webservice_get_site_info', 'case': 'invalidtoken',
            'request': request_fields('core_webservice_get_site_info', {}, 'not-a-token-0123456789'),
            'response': answer, 'note': 'A token the site does not know.'}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--wait', type=int, default=600, help='seconds to wait for the built fixture')
    args = parser.parse_args(argv)
    site = LiveSite(os.environ['MOODLE_URL'], os.environ['MOODLE_TOKEN'])
    if not site.wait_until_built(args.wait):
        sys.exit('the live site does not hold the fixture as build_fixture.php leaves it; nothing captured')
    written = capture(site)
    if not site.wait_until_built(0):
        sys.exit('the fixture changed while capturing (another run?): run again; files may be inconsistent')
    print('\n'.join(written))


if __name__ == '__main__':
    main()
