# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real ansible-playbook over a two-site inventory built by cemu.moodle.courses.

Site A is the simulator's `demo` fixture (NOM401 has no manual enrolment
instance and must fail alone); site B the `recorded` fixture (KA1-KA3). The
runs happen in order, once per module: --check --diff on the fresh sites,
then the real run, then a second run that must change nothing.
"""

import csv
import datetime
import os
import re
import stat
import zoneinfo

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi
from tests.demo import runner
from tests.simulator import Simulator

END = datetime.date(datetime.date.today().year + 1, 6, 30)
ZONE = zoneinfo.ZoneInfo('Europe/Berlin')  # the simulated site's time zone
SITE_A_COURSES = {'DB101', 'COH201', 'MIX301', 'NOM401'}
SITE_B_COURSES = {'KA1', 'KA2', 'KA3'}
ALL_COURSES = SITE_A_COURSES | SITE_B_COURSES
TOKENS = {'site_a': 'integration-token-site-a-0001', 'site_b': 'integration-token-site-b-0002'}


class Site:
    def __init__(self, group, fixture, tmp):
        self.group = group
        self.token = TOKENS[group]
        self.sim = Simulator(version='4.5', fixture=fixture, token=self.token)
        self.sim.start()
        self.api = KeepAccessApi(MoodleClient(self.sim.url, self.token))

    def enrolments(self, shortname):
        course = self.api.find_course(shortname, by='shortname')
        return self.api.read_course_enrolments(course['id'])


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('keep_access')
    sites = {'site_a': Site('site_a', 'demo', tmp), 'site_b': Site('site_b', 'recorded', tmp)}
    inventory = str(tmp / 'inventory')
    for group, site in sites.items():
        runner.write_site(inventory, site.sim.url, group, site.token, {
            'keep_access_end': END.isoformat(),
            'keep_access_backup_dir': str(tmp / 'backups'),
            'keep_access_report_dir': str(tmp / 'reports' / 'run'),
        }, extra={'shortname_pattern': '^KA[1-3]$'} if group == 'site_b' else None)
    world = {'tmp': tmp, 'sites': sites, 'inventory': inventory, 'runs': {}}
    yield world
    for site in sites.values():
        site.sim.stop()


def run(world, name, *args):
    """Each named run happens once, in the order the tests ask for them."""
    if name not in world['runs']:
        report_dir = str(world['tmp'] / 'reports' / name)
        code, output = runner.run_playbook(world['inventory'], '-e', 'keep_access_report_dir=' + report_dir, *args)
        world['runs'][name] = {'code': code, 'output': output, 'recap': runner.recap(output),
                               'report_dir': report_dir}
    return world['runs'][name]


def check_run(world):
    sites = world['sites']
    before = dict((g, s.sim.dump_state()) for g, s in sites.items())
    result = run(world, 'check', '--check', '--diff')
    result['unchanged'] = all(sites[g].sim.dump_state() == before[g] for g in sites)
    return result


def first_run(world):
    check_run(world)
    return run(world, 'first')


def second_run(world):
    first_run(world)
    return run(world, 'second')


def by_course(report):
    return dict((c['course'], c) for c in report['courses'])


def test_check_mode_changes_nothing_and_shows_who_would_be_converted(world):
    result = check_run(world)
    assert result['unchanged'], 'a --check run changed the simulated Moodle'
    assert set(result['recap']) == ALL_COURSES
    assert 'student0001' in result['output'], 'the diff names the users who would be converted'
    report = runner.load_report(result['report_dir'])
    assert report['check_mode'] is True
    assert by_course(report)['DB101']['converted'] == 13
    assert by_course(report)['DB101']['backup_file'] is None
    assert not os.path.exists(str(world['tmp'] / 'backups')), 'check mode kept a backup'


def task_results(output, task_name):
    """The result lines ('ok: [...]', 'changed: [...]', ...) printed under one task."""
    lines, inside = [], False
    for line in output.splitlines():
        if line.startswith('TASK ['):
            inside = task_name in line
        elif inside and line.split(':', 1)[0] in ('ok', 'changed', 'skipping', 'failed', 'fatal'):
            lines.append(line)
    return lines


def test_check_mode_scratch_folder_never_shows_as_changed(world):
    output = check_run(world)['output']
    for task in ('Make a temporary backup folder', 'Remove the temporary backup folder'):
        results = task_results(output, task)
        assert results and all(line.startswith('ok:') for line in results), (task, results)


def test_failing_course_fails_alone_with_a_clear_message(world):
    result = first_run(world)
    recap = result['recap']
    assert result['code'] != 0
    assert recap['NOM401']['failed'] == 1
    assert all(recap[c]['failed'] == 0 for c in ALL_COURSES - {'NOM401'})
    assert all(recap[c]['changed'] > 0 for c in ALL_COURSES - {'NOM401'})
    assert 'NOM401' in result['output'] and 'no enabled manual enrolment instance' in result['output']


def test_end_date_is_set_on_the_converted_students(world):
    first_run(world)
    enrolments = world['sites']['site_a'].enrolments('DB101')
    manual = manual_student_enrolments(enrolments)
    end = int(datetime.datetime.combine(END, datetime.time(23, 59, 59), ZONE).timestamp())
    assert len(manual) == 12 and all(ue['timeend'] == end and ue['status'] == 0 for ue in manual)


def manual_student_enrolments(enrolments):
    students = set(ra['userid'] for ra in enrolments['roleassignments'] if ra['roleshortname'] == 'student')
    manual = set(i['id'] for i in enrolments['instances'] if i['enrol'] == 'manual')
    return [ue for ue in enrolments['userenrolments'] if ue['enrolid'] in manual and ue['userid'] in students]


def test_report_lists_every_course_totals_and_the_failure(world):
    result = first_run(world)
    report = runner.load_report(result['report_dir'])
    courses = by_course(report)
    assert set(courses) == ALL_COURSES
    assert courses['NOM401']['status'] == 'failed'
    assert 'no enabled manual enrolment instance' in courses['NOM401']['message']
    assert courses['KA1']['converted'] == 32 and courses['KA1']['end_dates_set'] == 30
    assert courses['KA1']['site'] == world['sites']['site_b'].sim.url
    assert os.path.basename(courses['DB101']['backup_file']).startswith('enrolments-')
    assert report['totals']['courses'] == 7 and report['totals']['failed'] == 1
    assert report['totals']['converted'] == sum(c['converted'] for c in courses.values())
    assert [f['course'] for f in report['failed']] == ['NOM401']


def test_report_files_are_private_and_csv_matches_json(world):
    result = first_run(world)
    json_path, csv_path = runner.report_files(result['report_dir'])
    for path in (json_path, csv_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(result['report_dir']).st_mode) == 0o700
    with open(csv_path) as handle:
        rows = dict((r['course'], r) for r in csv.DictReader(handle))
    courses = by_course(runner.load_report(result['report_dir']))
    assert set(rows) == ALL_COURSES
    for name, course in courses.items():
        assert int(rows[name]['converted']) == course['converted']
        assert rows[name]['status'] == course['status']
    for site in world['sites'].values():
        for path in (json_path, csv_path):
            with open(path) as handle:
                assert site.token not in handle.read()
    assert 'integration-token' not in result['output']


def test_second_run_changes_nothing(world):
    result = second_run(world)
    recap = result['recap']
    assert all(recap[c]['changed'] == 0 for c in ALL_COURSES), recap
    assert recap['NOM401']['failed'] == 1
    report = runner.load_report(result['report_dir'])
    assert report['totals']['changed'] == 0 and report['totals']['ok'] == 6


def fresh_controller_run(world):
    """The same run from a fresh controller (an AWX job): new inventory, empty backup folder."""
    second_run(world)
    if 'fresh' not in world['runs']:
        inventory = str(world['tmp'] / 'fresh-inventory')
        for group, site in world['sites'].items():
            runner.write_site(inventory, site.sim.url, group, site.token, {
                'keep_access_end': END.isoformat(),
                'keep_access_backup_dir': str(world['tmp'] / 'fresh-backups'),
            }, extra={'shortname_pattern': '^KA[1-3]$'} if group == 'site_b' else None)
        before = dict((g, s.sim.dump_state()) for g, s in world['sites'].items())
        report_dir = str(world['tmp'] / 'reports' / 'fresh')
        code, output = runner.run_playbook(inventory, '-e', 'keep_access_report_dir=' + report_dir, '--diff')
        world['runs']['fresh'] = {'code': code, 'output': output, 'recap': runner.recap(output),
                                  'report_dir': report_dir, 'unchanged': all(
                                      world['sites'][g].sim.dump_state() == before[g] for g in before)}
    return world['runs']['fresh']


def test_a_fresh_controller_changes_nothing(world):
    """KA3's student0222 (database + an active manual enrolment the restore leaves as it is, dated by the
    end-date step) must not be merged again: "no end wins" would clear the end date (seen on Moodle 4.5).
    The backup file written into the empty folder is the controller's copy, no change of the course."""
    result = fresh_controller_run(world)
    recap = result['recap']
    assert all(recap[c]['changed'] == 0 for c in ALL_COURSES), recap
    assert result['unchanged'], 'a fresh controller changed the simulated Moodle'
    report = runner.load_report(result['report_dir'])
    assert report['totals']['changed'] == 0 and report['totals']['ok'] == 6


def test_students_keep_access_after_the_source_drops_them(world):
    fresh_controller_run(world)
    site = world['sites']['site_b']
    course = site.api.find_course('KA3', by='shortname')
    site.sim.drop_from_source(course['id'], 'database')
    site.sim.drop_from_source(course['id'], 'cohort')
    after = site.enrolments('KA3')
    automatic = [ue for ue in after['userenrolments'] if ue['enrol'] in ('database', 'cohort')]
    kept = manual_student_enrolments(after)
    assert automatic == []
    # active: database 0201-0210, cohort 0211-0215, 0220 (both), manual 0216-0219 and 0222 (also database);
    # 0221 keeps its suspended manual enrolment (kept_suspended)
    assert len([ue for ue in kept if ue['status'] == 0]) == 21


def test_check_mode_report_counts_what_the_real_run_then_does(world):
    """The dry run plans the end dates against the enrolments the restore would make (planned_enrolments)."""
    check = by_course(runner.load_report(check_run(world)['report_dir']))
    real = by_course(runner.load_report(first_run(world)['report_dir']))
    counts = ('status', 'converted', 'end_dates_set', 'skipped')
    assert dict((c, [check[c][k] for k in counts]) for c in ALL_COURSES) == \
        dict((c, [real[c][k] for k in counts]) for c in ALL_COURSES)
    assert real['KA1']['end_dates_set'] == 30 and real['DB101']['end_dates_set'] == 12


def test_a_normal_run_prints_no_warning(world):
    """DB101 (database only), COH201 (cohort only), KA1-KA3: normal courses, no warning in any run; the
    methods a course lacks are in the report instead."""
    for result in (check_run(world), first_run(world), second_run(world)):
        assert '[WARNING]' not in result['output'], result['output']
    courses = by_course(runner.load_report(second_run(world)['report_dir']))
    assert courses['DB101']['missing_methods'] == ['cohort'] and courses['COH201']['missing_methods'] == ['database']


def test_the_check_runs_diff_is_one_line_per_user(world):
    output = check_run(world)['output']
    # the restore writes the student with the end date (one write per user): one line, end included
    assert re.search(r'^student0001\s+new  active  end: \d{4}-\d\d-\d\d 23:59 \w+  \[\+student\]$', output, re.M), output
    assert '"before": {' not in output and '"after": {' not in output, 'the structured diff is for tools only'
