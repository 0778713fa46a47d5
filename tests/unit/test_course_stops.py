# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which courses stop before their first write: the role's per-course rule and the playbook's all-at-once form.

One rule (filter keep_access_course_stop); the playbook's keep_access_course_stops applies it to every
course's host variables, with the role's defaults where a course sets none, and gives each stopped course
its line of the run report.
"""

import datetime

from ansible_collections.cemu.moodle.plugins.filter.keep_access_report import keep_access_report
from ansible_collections.cemu.moodle.plugins.filter.keep_access_sites import (
    STOP_STEP, keep_access_course_stop, keep_access_course_stops, keep_access_sites)

SITE_A = 'https://a.example.edu'
SITE_B = 'https://b.example.edu'
NEXT_YEAR = datetime.date.today().year + 1
END = '%d-06-30' % NEXT_YEAR
COURSE_END = int(datetime.datetime(NEXT_YEAR, 9, 1, tzinfo=datetime.timezone.utc).timestamp())


def host(name, site=SITE_A, **variables):
    return dict({'inventory_hostname': name, 'moodle_url': site, 'keep_access_end': END}, **variables)


def checks(hosts, failed_sites=()):
    """The registered site-check loop: one item per site, failed for ``failed_sites``."""
    return [{'item': item, 'failed': item['site'] in failed_sites,
             'msg': 'Moodle site %s failed its check, so none of its courses was touched: ...' % item['site']}
            for item in keep_access_sites(hosts)]


def test_a_course_of_a_failed_site_stops_with_a_short_line_pointing_at_the_sites_message():
    hosts = [host('KA1'), host('KB1', site=SITE_B)]
    results = checks(hosts, failed_sites=[SITE_B])
    assert keep_access_course_stop(results, SITE_A, END) == ''
    assert keep_access_course_stop(results, SITE_B, END) == (
        'https://b.example.edu failed its check (message above); course not touched')


def test_without_an_end_date_a_course_stops_unless_it_is_undone():
    results = checks([host('KA1')])
    assert keep_access_course_stop(results, SITE_A, None) == (
        'keep_access_end is not set: set the end date of the manual enrolments (e.g. -e keep_access_end=2027-03-31);'
        ' course not touched')
    assert keep_access_course_stop(results, SITE_A, None, state='absent') == ''


def test_course_end_without_a_course_end_date_or_fallback_stops_and_says_why():
    results = checks([host('MIX301', keep_access_end='course_end')])
    message = keep_access_course_stop(results, SITE_A, 'course_end', course_enddate=0)
    assert message == ('keep_access_end=course_end: the course has no end date and keep_access_end_fallback is not '
                       'set; course not touched')
    assert keep_access_course_stop(results, SITE_A, 'course_end', course_enddate=COURSE_END) == ''
    assert keep_access_course_stop(results, SITE_A, 'course_end', course_enddate=0, fallback=END) == ''


def test_the_play_form_gives_the_same_answer_per_course_with_the_roles_defaults():
    hosts = [host('KA1'), host('KA2', keep_access_end='course_end', moodle_course_enddate=0),
             host('KA3', keep_access_end='course_end', moodle_course_enddate=COURSE_END,
                  keep_access_end_min_days=3650),
             host('KB1', site=SITE_B), host('KB2', site=SITE_B, keep_access_state='absent')]
    results = checks(hosts, failed_sites=[SITE_B])
    stops = keep_access_course_stops(hosts, results)
    assert [s['host'] for s in stops] == ['KA2', 'KA3', 'KB1', 'KB2']
    for stop, variables in zip(stops, [hosts[1], hosts[2], hosts[3], hosts[4]]):
        assert stop['message'] == keep_access_course_stop(
            results, variables['moodle_url'], variables['keep_access_end'],
            state=variables.get('keep_access_state', 'present'),
            course_enddate=variables.get('moodle_course_enddate'),
            min_days=variables.get('keep_access_end_min_days', 0))
    # the role's default for courses that set none
    assert [s['host'] for s in keep_access_course_stops(hosts[:3], results, min_days=0)] == ['KA2', 'KA3']
    assert [s['host'] for s in keep_access_course_stops(hosts[:1], results, state='absent')] == []


def test_a_course_without_moodle_url_belongs_to_the_default_site():
    hosts = [host('KB1', site=None)]
    del hosts[0]['moodle_url']
    results = checks([host('KB1', site=SITE_B)], failed_sites=[SITE_B])
    stops = keep_access_course_stops(hosts, results, default_site=SITE_B)
    assert [s['message'] for s in stops] == ['https://b.example.edu failed its check (message above); course not touched']


def test_a_stopped_course_is_a_failed_line_of_the_run_report_with_its_message():
    hosts = [host('KA1'), host('KB1', site=SITE_B)]
    stop = keep_access_course_stops(hosts, checks(hosts, failed_sites=[SITE_B]))[0]
    record = stop['record']
    assert (record['course'], record['site'], record['status']) == ('KB1', SITE_B, 'failed')
    assert record['failed_step'] == STOP_STEP and record['message'] == stop['message']
    report = keep_access_report([record], hosts=['KB1'])
    assert [f['course'] for f in report['summary']['failed']] == ['KB1']
    assert report['summary']['failed'][0]['message'] == stop['message']
