# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark against a real Moodle: the 2,000-student course BIG1 of the live fixture.

    MOODLE_URL=... MOODLE_TOKEN=... MOODLE_LIVE_DIR=/var/www/moodle \\
    MOODLE_LIVE_PHP="runuser -u www-data -- php" python -m tests.bench.bench_real_moodle

(the variables of tests/live/README.md; MOODLE_LIVE_PSQL optional, to count
welcome messages). A script, not a test: it prints figures for people to read.

In one run, with the fixture reset before each part:

1. the chain through ansible-playbook: moodle_backup_enrolments,
   moodle_restore_manual, moodle_set_enrol_end as three tasks of one play;
   wall clock per module (Ansible's junit callback) and of the whole command;
2. the same change made with the minimal core calls: enrol_manual_enrol_users
   with roleid, userid, courseid, timestart, timeend, suspend per row, in the
   largest batches that fit the server's max_input_vars (the collection's own
   batching rule), the users known beforehand (not timed);
3. the chain again, the three modules' code run in this process with every
   HTTP call timed from the client's side: where the time goes.

It prints the ratio chain / core calls and the chain against Moodle's own
backup + restore of the course (measured by hand on the reference machine:
42-45 s; the goal is at most half of it).
"""

import argparse
import contextlib
import datetime
import glob
import io
import json
import os
import shutil
import sys
import tempfile
import time
from xml.etree import ElementTree
from urllib.parse import parse_qsl

import requests

from ansible.module_utils.testing import patch_module_args

from tests.collection_path import collections_root

if collections_root() not in sys.path:
    sys.path.insert(0, collections_root())

from ansible_collections.cemu.moodle.plugins.modules import (  # noqa: E402
    moodle_backup_enrolments,
    moodle_restore_manual,
    moodle_set_enrol_end,
)
from ansible_collections.cemu.moodle.plugins.module_utils.plan import parse_end, resolve_timezone  # noqa: E402
from tests.integration.module_runner import Task, run_tasks  # noqa: E402
from tests.live.live_backend import LiveConfigMissing, LiveSite, manual_by_user  # noqa: E402

MODULES = (('moodle_backup_enrolments', moodle_backup_enrolments),
           ('moodle_restore_manual', moodle_restore_manual),
           ('moodle_set_enrol_end', moodle_set_enrol_end))
CORE_FUNCTION = 'enrol_manual_enrol_users'
CORE_FIELDS_PER_ROW = 6           # roleid, userid, courseid, timestart, timeend, suspend
MOODLE_BACKUP_RESTORE_SECONDS = (42.0, 45.0)   # reference machine, Moodle 4.5 backup + restore of BIG1


def parse_args(argv):
    parser = argparse.ArgumentParser(description='keep_access chain vs core calls on a real Moodle (BIG1)')
    parser.add_argument('--course', default='BIG1', help='fixture course to convert (default BIG1)')
    parser.add_argument('--end', default=datetime.date(datetime.date.today().year + 1, 3, 31).isoformat(),
                        help='end date to set (default 31 March next year)')
    parser.add_argument('--max-input-vars', type=int, default=5000, help="the server's PHP max_input_vars")
    parser.add_argument('--backup-restore-seconds', type=float, default=None,
                        help="Moodle's own backup + restore of the course on this machine, if measured "
                             '(default: the reference 42-45 s)')
    parser.add_argument('--skip-playbook', action='store_true', help='skip part 1 (ansible-playbook)')
    parser.add_argument('--skip-profile', action='store_true', help='skip part 3 (where the time goes)')
    return parser.parse_args(argv)


# -- every HTTP call timed from the client's side --

class CallLog:
    """Patches requests.Session.send while active; one entry per web-service call (never the token)."""

    def __init__(self):
        self.calls = []
        self._original = None

    def __enter__(self):
        self._original = requests.Session.send
        log = self

        def timed_send(session, request, **kwargs):
            started = time.monotonic()
            response = log._original(session, request, **kwargs)
            content_length = len(response.content)  # reads the body
            log.calls.append(describe_call(request, response, time.monotonic() - started, content_length))
            return response

        requests.Session.send = timed_send
        return self

    def __exit__(self, *exc):
        requests.Session.send = self._original

    def mark(self):
        return len(self.calls)

    def since(self, mark):
        return self.calls[mark:]


def describe_call(request, response, seconds, content_length):
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or '')
    fields = parse_qsl(body, keep_blank_values=True)
    function = next((value for name, value in fields if name == 'wsfunction'), '?')
    rows = len(set(name.split('[')[1].rstrip(']') for name, _value in fields
                   if name.startswith('enrolments[')))
    return {'function': function, 'fields': len(fields), 'rows': rows, 'seconds': seconds,
            'server': response.elapsed.total_seconds(), 'bytes': content_length}


# -- the three parts --

def chain_through_playbook(live, course, end, workdir):
    """Part 1: the three modules as three tasks of one ansible-playbook run."""
    backup_dir = os.path.join(workdir, 'backups-playbook')
    junit_dir = os.path.join(workdir, 'junit')
    tasks = [Task('moodle_backup_enrolments', course=course, course_by='shortname', backup_dir=backup_dir),
             Task('moodle_restore_manual', course=course, course_by='shortname', backup_dir=backup_dir),
             Task('moodle_set_enrol_end', course=course, course_by='shortname', end=end)]
    extra_env = {'ANSIBLE_CALLBACKS_ENABLED': 'ansible.builtin.junit', 'JUNIT_OUTPUT_DIR': junit_dir,
                 'JUNIT_HIDE_TASK_ARGUMENTS': 'true'}
    with patched_environment(extra_env):
        started = time.monotonic()
        run = run_tasks(tasks, live.connection(), workdir=tempfile.mkdtemp(dir=workdir), timeout=1800)
        wall = time.monotonic() - started
    failed = [r.get('msg') for r in run.results if r.get('failed')]
    if failed:
        raise SystemExit('the playbook chain failed: %s' % failed)
    return {'wall': wall, 'tasks': junit_task_seconds(junit_dir), 'results': run.results}


@contextlib.contextmanager
def patched_environment(values):
    saved = dict((name, os.environ.get(name)) for name in values)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def junit_task_seconds(junit_dir):
    """{module name: seconds} from the junit callback's report."""
    seconds = {}
    for path in glob.glob(os.path.join(junit_dir, '*.xml')):
        for case in ElementTree.parse(path).getroot().iter('testcase'):
            for name, _module in MODULES:
                if name in case.get('name', ''):
                    seconds[name] = float(case.get('time', 0))
    return seconds


def core_calls(live, course, students, roleid, end, max_input_vars, log):
    """Part 2: enrol_manual_enrol_users for every student, largest safe batches."""
    client = live.client(batch_size=100000, max_input_vars=max_input_vars, timeout=600)
    rows = [{'roleid': roleid, 'userid': userid, 'courseid': course['id'], 'timestart': 0, 'timeend': end,
             'suspend': 0} for userid in students]
    mark = log.mark()
    started = time.monotonic()
    client.call_batched(CORE_FUNCTION, 'enrolments', rows, idempotent=True, fields_per_row=CORE_FIELDS_PER_ROW)
    wall = time.monotonic() - started
    return {'wall': wall, 'calls': log.since(mark), 'rows_per_call': client.rows_per_call(
        'enrolments', rows, fields_per_row=CORE_FIELDS_PER_ROW)}


def chain_in_process(live, course, end, workdir, log):
    """Part 3: the modules' own code, in this process, every call timed."""
    backup_dir = os.path.join(workdir, 'backups-profile')
    common = dict(live.connection(), course=course, course_by='shortname')
    options = {'moodle_backup_enrolments': dict(common, backup_dir=backup_dir),
               'moodle_restore_manual': dict(common, backup_dir=backup_dir),
               'moodle_set_enrol_end': dict(common, end=end)}
    steps = []
    for name, module in MODULES:
        mark = log.mark()
        started = time.monotonic()
        result = run_module_in_process(module, options[name])
        steps.append({'module': name, 'wall': time.monotonic() - started, 'calls': log.since(mark),
                      'result': result})
        if result.get('failed'):
            raise SystemExit('%s failed: %s' % (name, result.get('msg')))
    return steps


def run_module_in_process(module, args):
    """Run a module's main() here, as Ansible would in a worker; return its result."""
    output = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(output):
        try:
            module.main()
        except SystemExit:
            pass
    return json.loads(output.getvalue().strip().splitlines()[-1])


# -- checks and figures --

def reset(live):
    started = time.monotonic()
    live.build_fixture()
    return time.monotonic() - started


def end_timestamp(live, course, end):
    """The Unix time the modules make of ``end`` in the site's time zone (the core calls send the same)."""
    timezone = live.api.read_course_enrolments(course['id'])['timezone']
    return parse_end(end, resolve_timezone(timezone))


def students_and_role(live, course):
    """The students the source feeds in the course, and the student role id (read, not timed)."""
    enrolments = live.api.read_course_enrolments(course['id'])
    roleid = next(r['id'] for r in enrolments['roles'] if r['shortname'] == 'student')
    students = sorted(set(ra['userid'] for ra in enrolments['roleassignments']
                          if ra['roleid'] == roleid and ra['component'].startswith('enrol_')))
    return students, roleid


def converted_count(live, course, students, end):
    """How many of ``students`` hold an active manual enrolment ending at ``end``."""
    manual = manual_by_user(live.api.read_course_enrolments(course['id']))
    return sum(1 for userid in students
               if userid in manual and manual[userid]['status'] == 0 and manual[userid]['timeend'] == end)


def summarise_calls(calls):
    """{function: [calls, rows, seconds, server seconds, bytes]}"""
    table = {}
    for call in calls:
        entry = table.setdefault(call['function'], [0, 0, 0.0, 0.0, 0])
        entry[0] += 1
        entry[1] += call['rows']
        entry[2] += call['seconds']
        entry[3] += call['server']
        entry[4] += call['bytes']
    return table


def print_calls(calls, indent='    '):
    for function, (count, rows, seconds, server, size) in summarise_calls(calls).items():
        print('%s%-42s %3d call(s) %5d rows  %6.2f s  (server %6.2f s, %7.1f KiB answered)'
              % (indent, function, count, rows, seconds, server, size / 1024.0))


def print_header(live, course, students, args):
    info = live.api.site_info()
    print('Real Moodle %s at %s (release %s)' % (info.get('sitename', ''), live.url, info.get('release')))
    print('course %s (id %d): %d students fed by the source; end %s; max_input_vars %d'
          % (course['shortname'], course['id'], len(students), args.end, args.max_input_vars), flush=True)


def welcome_count(live):
    return live.welcome_messages() if live.has_sql else None


def main(argv=None):
    args = parse_args(argv)
    try:
        live = LiveSite.from_environment(need_scripts=True)
    except LiveConfigMissing as missing:
        print(missing, file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix='cemu-moodle-bench-real-')
    figures = {}
    try:
        with CallLog() as log:
            figures = run_parts(live, args, workdir, log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_verdict(figures, args)
    return 0


def run_parts(live, args, workdir, log):
    figures = {'reset': []}
    figures['reset'].append(reset(live))
    course = live.course(args.course)
    students, roleid = students_and_role(live, course)
    print_header(live, course, students, args)
    end = end_timestamp(live, course, args.end)
    welcome = welcome_count(live)
    if not args.skip_playbook:
        part = chain_through_playbook(live, args.course, args.end, workdir)
        figures['playbook'] = part
        print('\n1. chain through ansible-playbook: %.1f s wall clock (ansible-playbook start included)'
              % part['wall'])
        for name, _module in MODULES:
            print('    %-28s %6.1f s' % (name, part['tasks'].get(name, float('nan'))))
        print('    modules total                %6.1f s' % sum(part['tasks'].values()))
        print('    converted and ended: %d of %d' % (converted_count(live, course, students, end), len(students)))
        figures['reset'].append(reset(live))
    part = core_calls(live, course, students, roleid, end, args.max_input_vars, log)
    figures['core'] = part
    print('\n2. core calls (%s, %d rows per call, %d fields per row): %.1f s'
          % (CORE_FUNCTION, part['rows_per_call'], CORE_FIELDS_PER_ROW, part['wall']))
    print_calls(part['calls'])
    print('    converted and ended: %d of %d' % (converted_count(live, course, students, end), len(students)))
    figures['reset'].append(reset(live))
    if not args.skip_profile:
        steps = chain_in_process(live, args.course, args.end, workdir, log)
        figures['profile'] = steps
        print('\n3. chain, modules run in this process, every call timed: %.1f s' % sum(s['wall'] for s in steps))
        for step in steps:
            http = sum(c['seconds'] for c in step['calls'])
            print('  %-28s %6.1f s  (HTTP %5.1f s, of it server until headers %5.1f s; here %5.1f s)'
                  % (step['module'], step['wall'], http, sum(c['server'] for c in step['calls']),
                     step['wall'] - http))
            print_calls(step['calls'])
        print('    converted and ended: %d of %d' % (converted_count(live, course, students, end), len(students)))
        figures['reset'].append(reset(live))
    if welcome is not None:
        print('\nwelcome messages stored during the run: %d' % (welcome_count(live) - welcome))
    print('fixture resets: %s s' % ', '.join('%.1f' % s for s in figures['reset']))
    return figures


def chain_seconds(figures):
    """The chain's figure to compare: modules' wall clock through ansible-playbook, else in process."""
    if 'playbook' in figures:
        return sum(figures['playbook']['tasks'].values()), 'modules through ansible-playbook'
    return sum(s['wall'] for s in figures['profile']), 'modules in process'


def print_verdict(figures, args):
    if 'core' not in figures or not ('playbook' in figures or 'profile' in figures):
        return
    chain, label = chain_seconds(figures)
    core = figures['core']['wall']
    low, high = ((args.backup_restore_seconds,) * 2 if args.backup_restore_seconds
                 else MOODLE_BACKUP_RESTORE_SECONDS)
    print('\nchain (%s): %.1f s; core calls: %.1f s; ratio chain / core calls = %.2f'
          % (label, chain, core, chain / core))
    if 'playbook' in figures:
        print('ansible-playbook wall clock (start-up included): %.1f s' % figures['playbook']['wall'])
    print("Moodle's backup + restore: %.0f-%.0f s; half of it: %.1f s; the chain %s"
          % (low, high, low / 2, 'is within it' if chain <= low / 2 else 'is OVER it'))


if __name__ == '__main__':
    sys.exit(main())
