# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe from any controller, on a real Moodle (issue 10), with the real ansible-playbook over KA1-KA3:

- a full run, then a run from a fresh controller (new backup folder, report folder, inventory cache):
  its --check --diff plan clears no end date and changes nothing, the real run neither; Moodle reads
  back identical and its history gains no row;
- two runs at once on the same courses: a course another run holds stops with a message naming that
  run and is not touched; two jobs started together apply nothing twice (Moodle's history);
- a past, unparsable or too-early end date, a wrong token, a missing companion function or plugin:
  the run stops before its first write, the site's problem said once, Moodle unchanged (read back);
- keep_access_end: course_end: each course's end date, or the fallback for a course without one or
  one too close, and the report says which and why.

Runs only with MOODLE_URL, MOODLE_TOKEN and MOODLE_LIVE_DIR set; the cases that change the service's
functions or the courses' end dates also need MOODLE_LIVE_PSQL (see README.md).
"""

import datetime
import json
import os
import re
import subprocess
import time
import zoneinfo

import pytest

from tests.demo import runner
from tests.live.live_backend import automatic_roles, automatic_users, manual_by_user, record, snapshot

COURSES = ('KA1', 'KA2', 'KA3')
PATTERN = '^KA[1-3]$'
TODAY = datetime.date.today()
END = datetime.date(TODAY.year + 1, 6, 30)
FED_USERS = {'KA1': 32, 'KA2': 25, 'KA3': 18}
SITE_FAILED = 'failed its check, so none of its courses was touched'
RESTORE_TASK = 'Restore them as manual enrolments'
END_TASK = 'Set the end date of the manual enrolments'
WRONG_TOKEN = '0123456789abcdef0123456789abcdef'


class Controller:
    """One controller's view: its own inventory (and inventory cache), backup folder and report folders."""

    def __init__(self, live, directory, group_vars=None, inventory_token=None):
        self.live = live
        self.directory = directory
        self.inventory = str(directory / 'inventory')
        variables = {'keep_access_end': END.isoformat(), 'keep_access_backup_dir': str(directory / 'backups'),
                     'moodle_validate_certs': live.validate_certs}
        variables.update(group_vars or {})
        variables.setdefault('moodle_token', live.token)   # the playbook's token (may differ from the inventory's)
        runner.write_site(self.inventory, live.url, 'live', inventory_token or live.token, variables,
                          extra={'shortname_pattern': PATTERN, 'validate_certs': live.validate_certs,
                                 'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile',
                                 'cache_connection': str(directory / 'inventory-cache')},
                          token_in_group_vars=False)
        self.runs = 0

    def command(self, *args):
        """The ansible-playbook command and environment of a run (its own report folder)."""
        self.runs += 1
        report_dir = str(self.directory / ('reports-%d' % self.runs))
        command = runner.playbook_command(self.inventory, '-e', 'keep_access_report_dir=' + report_dir, *args)
        env = runner.ansible_env(runner.results_callback_env(report_dir + '.results.json'))
        return command, env, report_dir

    def run(self, name, *args):
        command, env, report_dir = self.command(*args)
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                   cwd=runner.REPO_ROOT, timeout=1800, check=False)
        return finished(self.live, name, completed.returncode, completed.stdout, report_dir)


def finished(live, name, code, output, report_dir):
    assert live.token not in output, 'the token appeared in the playbook output'
    result = {'code': code, 'output': output, 'report_dir': report_dir, 'recap': runner.recap(output)}
    assert os.path.exists(report_dir + '.results.json'), output[-3000:]
    with open(report_dir + '.results.json') as handle:
        result['tasks'] = json.load(handle)
    record('playbook run %-28s rc=%d  %s' % (name, code, ', '.join(
        '%s changed=%d failed=%d' % (host, counts.get('changed', 0), counts.get('failed', 0)) for host, counts in sorted(result['recap'].items()))))
    return result


def task_results(result, task_name):
    """{host: result} of a task of the run."""
    return runner.task_results(result['tasks'], task_name)


def moodle_state(live):
    """Every course's enrolments, roles and instances, and its history records in Moodle."""
    state = {}
    for name in COURSES:
        course = live.course(name)['id']
        state[name] = {'enrolments': snapshot(live.api.read_course_enrolments(course)),
                       'history': live.api.read_course_history(course)}
    return state


def end_dates(live, name):
    """{username: timeend} of the course's manual enrolments."""
    enrolments = live.enrolments(name)
    names = dict((ue['userid'], ue['username']) for ue in enrolments['userenrolments'])
    return dict((names[userid], ue['timeend']) for userid, ue in manual_by_user(enrolments).items())


def end_of_day(day, zone_name):
    return int(datetime.datetime.combine(day, datetime.time(23, 59, 59), zoneinfo.ZoneInfo(zone_name)).timestamp())


def converted(before, after):
    """Problems of a conversion: every user the source fed holds an active manual enrolment (student0221:
    suspended, as it was) with a manual copy of their roles."""
    manual = manual_by_user(after)
    manual_roles = dict((ra['userid'], set()) for ra in after['roleassignments'])
    for ra in after['roleassignments']:
        if ra['component'] == '':
            manual_roles[ra['userid']].add(ra['roleshortname'])
    problems = []
    for userid, username in automatic_users(before).items():
        if userid not in manual:
            problems.append('%s: no manual enrolment' % username)
        elif not automatic_roles(before).get(userid, set()) <= manual_roles.get(userid, set()):
            problems.append('%s: roles %s' % (username, manual_roles.get(userid)))
    return problems


@pytest.fixture(scope='module')
def services(live_sql):
    """Take functions out of the keep_access service for a while (put back afterwards)."""
    taken = []

    def take_out(pattern):
        rows = live_sql.sql("SELECT f.id, f.externalserviceid, f.functionname FROM {p}external_services_functions f "
                            "JOIN {p}external_services s ON s.id = f.externalserviceid "
                            "WHERE s.shortname = 'keep_access' AND f.functionname LIKE '%s'" % pattern.replace('%', '%%'))
        assert rows, pattern
        live_sql.sql_write("DELETE FROM {p}external_services_functions WHERE id IN (%s)"
                           % ', '.join(str(int(row[0])) for row in rows))
        taken.extend(rows)
        return [row[2] for row in rows]

    def put_back():
        while taken:
            row = taken.pop()
            live_sql.sql_write("INSERT INTO {p}external_services_functions (id, externalserviceid, functionname) "
                               "VALUES (%d, %d, '%s')" % (int(row[0]), int(row[1]), row[2]))

    take_out.put_back = put_back
    yield take_out
    put_back()


# ---------------------------------------------------------------- (a) a fresh controller changes nothing

@pytest.fixture(scope='module')
def fresh_controller(live, tmp_path_factory):
    live.build_fixture()
    before = dict((name, live.enrolments(name)) for name in COURSES)
    first = Controller(live, tmp_path_factory.mktemp('controller_a')).run('first (controller A)')
    after_first = moodle_state(live)
    fresh = Controller(live, tmp_path_factory.mktemp('controller_b'))
    check = fresh.run('fresh controller --check --diff', '--check', '--diff')
    after_check = moodle_state(live)
    real = fresh.run('fresh controller', '--diff')
    return {'before': before, 'first': first, 'after_first': after_first, 'check': check,
            'after_check': after_check, 'real': real, 'after_real': moodle_state(live),
            'ends': dict((name, end_dates(live, name)) for name in COURSES)}


def test_first_run_converts_and_sets_the_end_date(live, fresh_controller):
    first = fresh_controller['first']
    assert first['code'] == 0, first['output'][-3000:]
    for name in COURSES:
        after = live.enrolments(name)
        assert converted(fresh_controller['before'][name], after) == [], name
    end = end_of_day(END, live.api.site_settings()['timezone'])
    assert fresh_controller['ends']['KA1']['student0001'] == end


@pytest.mark.parametrize('mode', ('check', 'real'))
def test_fresh_controller_plans_no_end_date_clearing_and_changes_nothing(fresh_controller, mode):
    result = fresh_controller[mode]
    assert result['code'] == 0, result['output'][-3000:]
    assert set(result['recap']) == set(COURSES)
    assert all(result['recap'][name]['changed'] == 0 for name in COURSES), result['recap']
    restores, ends = task_results(result, RESTORE_TASK), task_results(result, END_TASK)
    for name in COURSES:
        restore = restores[name]
        assert restore['changed'] is False and restore['counts']['updated'] == restore['counts']['created'] == 0, name
        assert restore['diff'] == {} or not restore['diff'].get('after'), (name, restore.get('diff'))
        assert ends[name]['changed'] is False and ends[name]['counts']['changed'] == 0, name
    if mode == 'check':
        # the plan: every user the restore plans for keeps the end date Moodle holds now
        for name in COURSES:
            now = fresh_controller['ends'][name]
            planned = dict((row['username'], row['timeend']) for row in restores[name]['planned_enrolments'])
            cleared = sorted(user for user, end in planned.items() if now.get(user) and end != now[user])
            assert planned and cleared == [], (name, cleared)
    record('fresh controller %s: changed=0 on %s, no end date planned to change' % (mode, ', '.join(COURSES)))


def test_fresh_controller_leaves_moodle_identical(fresh_controller):
    first = fresh_controller['after_first']
    for later in ('after_check', 'after_real'):
        for name in COURSES:
            assert fresh_controller[later][name]['enrolments'] == first[name]['enrolments'], (later, name)
            # no write at all: Moodle's history (one row per changed user and write) gained nothing
            assert fresh_controller[later][name]['history'] == first[name]['history'], (later, name)


# ---------------------------------------------------------------- (b) two runs at once

def test_a_course_another_run_holds_stops_with_a_message_naming_that_run(live, tmp_path):
    live.build_fixture()
    before = moodle_state(live)
    ka1 = live.course('KA1')['id']
    with live.api.course_claimed(ka1, 'other-awx-job-4711'):
        result = Controller(live, tmp_path).run('while KA1 is claimed')
        held = moodle_state(live)['KA1']
    assert result['recap']['KA1']['failed'] == 1 and result['code'] != 0
    assert all(result['recap'][name]['failed'] == 0 and result['recap'][name]['changed'] > 0 for name in ('KA2', 'KA3'))
    messages = [line for line in result['output'].splitlines() if 'other-awx-job-4711' in line]
    assert messages and all('KA1' in line for line in messages), messages
    record('KA1 claimed by another run: %s' % messages[-1].strip()[:400])
    assert held == before['KA1'], 'a write went through while another run held KA1'


def test_two_jobs_at_once_apply_nothing_twice(live, tmp_path):
    live.build_fixture()
    before = dict((name, live.enrolments(name)) for name in COURSES)
    history_before = dict((name, len(live.api.read_course_history(live.course(name)['id']))) for name in COURSES)
    jobs = []
    for letter in 'ab':
        directory = tmp_path / letter
        directory.mkdir()
        command, env, report_dir = Controller(live, directory).command()
        jobs.append((letter, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                              env=env, cwd=runner.REPO_ROOT), report_dir))
    results = []
    for letter, process, report_dir in jobs:
        output = process.communicate(timeout=1800)[0]
        results.append(finished(live, 'job %s (two at once)' % letter, process.returncode, output, report_dir))
    for name in COURSES:
        after = live.enrolments(name)
        assert converted(before[name], after) == [], name
        records = live.api.read_course_history(live.course(name)['id'])[history_before[name]:]
        per_user_step = {}
        for row in records:
            key = (row['userid'], row['step'])
            per_user_step[key] = per_user_step.get(key, 0) + 1
        twice = sorted(key for key, count in per_user_step.items() if count > 1)
        assert twice == [], '%s: applied twice: %s' % (name, twice)
        for result in results:
            counts = result['recap'][name]
            if counts['failed']:
                # the job that found the course claimed says so, naming the course
                assert re.search(r'KA\d.*(claim|being changed|another run|held by)', result['output'], re.I), \
                    result['output'][-3000:]
    record('two jobs at once: exit codes %s; every user converted once (history)'
           % [result['code'] for result in results])


# ---------------------------------------------------------------- (c) refused before the first write

def refused_run(live, tmp_path, name, group_vars=None):
    before = moodle_state(live)
    result = Controller(live, tmp_path, group_vars).run(name)
    after = moodle_state(live)
    assert result['code'] != 0
    assert all(result['recap'][course]['changed'] == 0 and result['recap'][course]['failed'] == 1
               for course in COURSES), result['recap']
    for course in COURSES:
        assert after[course] == before[course], '%s: %s changed Moodle' % (name, course)
    return result


def site_message(result):
    """The site's one message: one failed result says it (ansible-core 2.19 and later also repeat a failed
    task's message once in the '[ERROR]: Task failed' line above the result); no course repeats it."""
    results = [line for line in result['output'].splitlines()
               if line.startswith(('failed: [', 'fatal: [')) and SITE_FAILED in line]
    errors = [line for line in result['output'].splitlines() if line.startswith('[ERROR]') and SITE_FAILED in line]
    messages = re.findall(r'Moodle site \S+ ' + SITE_FAILED + r'[^"\n]*', result['output'])
    record('site refused: %d failed result, %d [ERROR] line, %d copies in all: %s'
           % (len(results), len(errors), len(messages), messages[:1]))
    assert len(results) == 1 and len(errors) <= 1 and len(messages) == len(results) + len(errors), \
        result['output'][-4000:]
    return messages[0]


@pytest.mark.parametrize('end, expected', [
    ('%d-01-31' % (TODAY.year - 1), 'already past'),
    ('%d-02-30' % (TODAY.year + 1), 'not a valid date'),
    ('next summer', 'is not a date'),
])
def test_a_bad_end_date_stops_the_run_before_any_write(live, tmp_path, end, expected):
    live.build_fixture()
    message = site_message(refused_run(live, tmp_path, 'end ' + end, {'keep_access_end': end}))
    assert expected in message and end in message


def test_an_end_date_before_the_start_of_an_enrolment_stops_the_course_before_any_write(live, tmp_path):
    """Only an enrolment the end-date step changes counts: with keep_access_status 'any' (Participants'
    Status filter off) student0216's manual enrolment, starting in 40 days, is one; the restore of KA3
    would write first (16 conversions) if the end date were checked only by the end-date step."""
    live.build_fixture()
    ka3 = live.course('KA3')['id']
    starts = int(time.time()) + 40 * 86400
    enrolments = live.api.read_course_enrolments(ka3)
    student = [ue for ue in enrolments['userenrolments'] if ue['username'] == 'student0216'][0]
    live.api.apply_manual(ka3, [{'userid': student['userid'], 'timestart': starts}])
    before = moodle_state(live)
    end = TODAY + datetime.timedelta(days=20)
    result = Controller(live, tmp_path, {'keep_access_end': end.isoformat(), 'keep_access_status': 'any'}).run(
        'end before a start (KA3)')
    after = moodle_state(live)
    assert result['recap']['KA3']['failed'] == 1 and result['recap']['KA3']['changed'] == 0, result['recap']
    message = [line for line in result['output'].splitlines() if line.startswith('fatal: [KA3]')]
    assert message and 'student0216' in message[0] and 'before the start' in message[0], result['output'][-3000:]
    assert after['KA3'] == before['KA3'], 'KA3 was written before its end date was refused'
    record('end before a start: %s' % message[0][:400])


def test_a_wrong_token_stops_the_run_with_one_message(live, tmp_path):
    live.build_fixture()
    message = site_message(refused_run(live, tmp_path, 'wrong token', {'moodle_token': WRONG_TOKEN}))
    assert 'token' in message.lower()
    assert WRONG_TOKEN not in message


@pytest.mark.parametrize('pattern, expected', [
    ('local_keepaccess_claim_course', 'local_keepaccess_claim_course'),
    ('local_keepaccess_%', 'companion plugin local_keepaccess is not installed'),
])
def test_a_missing_companion_function_or_plugin_stops_the_run_with_one_message(live, tmp_path, services, pattern,
                                                                               expected):
    live.build_fixture()
    before = moodle_state(live)
    services(pattern)
    try:
        result = Controller(live, tmp_path).run('service without ' + pattern)
    finally:
        services.put_back()
    assert result['code'] != 0
    assert all(result['recap'][course]['changed'] == 0 for course in COURSES), result['recap']
    assert moodle_state(live) == before
    assert expected in site_message(result)


# ---------------------------------------------------------------- (d) keep_access_end: course_end

@pytest.fixture
def course_end_dates(live_sql):
    """Set courses' end dates for a test (put back afterwards)."""
    saved = {}

    def set_end(name, enddate):
        saved.setdefault(name, live_sql.sql_value("SELECT enddate FROM {p}course WHERE shortname = '%s'" % name))
        live_sql.sql_write("UPDATE {p}course SET enddate = %d WHERE shortname = '%s'" % (int(enddate), name))

    yield set_end
    for name, enddate in saved.items():
        live_sql.sql_write("UPDATE {p}course SET enddate = %d WHERE shortname = '%s'" % (int(enddate), name))


def test_course_end_uses_each_courses_end_date_or_the_fallback(live, tmp_path, course_end_dates):
    live.build_fixture()
    zone_name = live.api.site_settings()['timezone']
    soon = end_of_day(TODAY + datetime.timedelta(days=10), zone_name)
    later = end_of_day(TODAY + datetime.timedelta(days=200), zone_name)
    course_end_dates('KA1', soon)       # less than keep_access_end_min_days ahead: the fallback
    course_end_dates('KA2', 0)          # no end date: the fallback
    course_end_dates('KA3', later)      # the course's own end date
    fallback = END.isoformat()
    result = Controller(live, tmp_path, {'keep_access_end': 'course_end', 'keep_access_end_fallback': fallback,
                                         'keep_access_end_min_days': 30}).run('course_end')
    assert result['code'] == 0, result['output'][-3000:]
    report = dict((c['course'], c) for c in runner.load_report(result['report_dir'])['courses'])
    assert 'fallback' in report['KA1']['end_reason'] and 'less than 30 days ahead' in report['KA1']['end_reason']
    assert 'fallback' in report['KA2']['end_reason'] and 'no end date' in report['KA2']['end_reason']
    assert report['KA3']['end_reason'].startswith('course end date')
    expected = {'KA1': end_of_day(END, zone_name), 'KA2': end_of_day(END, zone_name), 'KA3': later}
    for name in COURSES:
        ends = end_dates(live, name)
        assert ends['student0001' if name == 'KA1' else {'KA2': 'student0101', 'KA3': 'student0201'}[name]] \
            == expected[name], name
        record('course_end %s: %s' % (name, report[name]['end_reason']))
