# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark on a real Moodle harness (/work/shared/realmoodle): the 2,000-student course BIG1.

    python -m tests.bench.bench_real_moodle --harness /root/rm45 --pg-port 5433 --http-port 8080 \\
        --admin-token TOKEN [--repeat 3] [--profile]

A script, not a test: it prints figures for people to read. It OWNS the harness while it runs (it
resets it, stops and starts its PHP-FPM) and leaves it reset with the branch's companion plugin.

Once: the harness is reset (its reset.sh), the branch's local_keepaccess deployed (copied into the
code, Moodle's upgrade.php, the plugin's create_service_user.php for the keep_access service's token),
and that state saved as the benchmark's own fixture (a template database next to the harness's, and a
copy of moodledata), so that each part below starts from it in seconds.

Then, REPEAT times, in the same run, each part starting from that fixture:
  (a) Moodle's own procedure: backup of the course with users and role assignments only, restore into
      the same course merging with "restore users as manual enrolments" (ENROL_NEVER), through Moodle's
      backup and restore controllers (tests/bench/moodle_backup_restore.php, PHP CLI);
  (b) the bare core calls: enrol_manual_enrol_users for the course's students (role, start 0, the end,
      not suspended) in the largest batches max_input_vars allows, through REST, with the admin token;
  (c) ansible-playbook cemu.moodle.keep_access on the course alone, with the service user's token;
      where its time goes from Ansible's junit callback: start (until the first task), site check,
      backup, restore, end dates, report.
It prints each wall time with the machine's load average, the ratios (targets: c <= 0.25 x a,
c <= 0.5 x b) and their spread over the repeats. --profile also runs one apply call of every student
under Xdebug's profiler (tests/bench/moodle_apply_profile.php) and prints where the server's time goes.
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from xml.etree import ElementTree

from tests.collection_path import REPO_ROOT, collections_root

if collections_root() not in sys.path:
    sys.path.insert(0, collections_root())

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient  # noqa: E402
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi  # noqa: E402
from ansible_collections.cemu.moodle.plugins.module_utils.plan import parse_end, resolve_timezone  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
PLUGIN_DIR = os.path.join(REPO_ROOT, 'roles', 'moodle_companion', 'files', 'local_keepaccess')
TOOLS = '/work/shared/realmoodle'
BENCH_DB = 'moodle_cemubench'           # the benchmark's fixture: a template database in the harness's cluster
BENCH_DATA = 'cemubench-moodledata'     # and a copy of moodledata, in the harness's home
CORE_FUNCTION = 'enrol_manual_enrol_users'
CORE_FIELDS_PER_ROW = 6                 # roleid, userid, courseid, timestart, timeend, suspend
WWW = ['runuser', '-u', 'www-data', '--']
# the playbook's tasks, grouped as the README's table shows them (junit names are "<play>: <task>")
STAGES = (('site check', ('Check each Moodle site', 'Set aside the courses', 'Stop the course before',
                          'Check that every course', 'Check the keep_access variables')),
          ('backup', ('Back up the automatic enrolments', 'Make a temporary backup folder')),
          ('restore', ('Restore them as manual enrolments',)),
          ('end dates', ('Set the end date of the manual enrolments',)),
          ('report', ('Build the run report', 'Write the report',
                      'Show the run report', 'Group the courses that failed')))
PROFILE_FUNCTIONS = ('apply_manual_enrolments::execute', 'enrol_plugin->enrol_user', 'role_copies->write',
                     'role_assign', 'mark_user_dirty', 'core_course_category::role_assignment_changed',
                     'core\\event\\base->trigger', 'mod_forum_observer::role_assigned', 'tool_log\\log\\manager->process',
                     'history::insert_all', 'history::record', 'core\\hook\\manager->dispatch',
                     'external_api::validate_parameters', 'external_api::clean_returnvalue',
                     'moodle_transaction->allow_commit', 'php::pg_query_params', 'insert_records')


def parse_args(argv):
    parser = argparse.ArgumentParser(description='keep_access vs Moodle on a real Moodle harness (BIG1)')
    parser.add_argument('--harness', required=True, help='the harness home (RM_HOME), e.g. /root/rm45')
    parser.add_argument('--pg-port', required=True, type=int)
    parser.add_argument('--http-port', required=True, type=int)
    parser.add_argument('--admin-token', default=os.environ.get('MOODLE_ADMIN_TOKEN'),
                        help="the harness admin's web-service token (for the core calls; env MOODLE_ADMIN_TOKEN)")
    parser.add_argument('--course', default='BIG1')
    parser.add_argument('--end', default=datetime.date(datetime.date.today().year + 1, 3, 31).isoformat())
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--parts', default='abc', help='which of a, b, c to run (default abc)')
    parser.add_argument('--max-input-vars', type=int, default=5000)
    parser.add_argument('--profile', action='store_true', help='also profile one apply call under Xdebug')
    parser.add_argument('--reuse-fixture', action='store_true',
                        help='use the benchmark fixture saved by an earlier run (same plugin) instead of preparing it')
    args = parser.parse_args(argv)
    if not args.admin_token:
        parser.error('--admin-token (or MOODLE_ADMIN_TOKEN) is required')
    return args


# ------------------------------------------------------------------ the harness

class Harness:
    """One realmoodle harness: its shell scripts, PostgreSQL cluster, PHP-FPM, code and data."""

    def __init__(self, home, pg_port, http_port):
        self.home = home
        self.env = dict(os.environ, RM_HOME=home, RM_PG_PORT=str(pg_port), RM_HTTP_PORT=str(http_port))
        self.url = 'http://127.0.0.1:%d' % http_port
        public = os.path.join(home, 'src', 'public')
        self.code_root = os.path.join(home, 'src')
        self.dirroot = public if os.path.exists(os.path.join(public, 'version.php')) else self.code_root

    def shell(self, script, timeout=900):
        """Run bash with the harness's lib.sh loaded (its functions: psql_su, stop_fpm, start_fpm, ...)."""
        command = '. %s/lib.sh; %s' % (shlex.quote(TOOLS), script)
        return run(['bash', '-c', command], env=self.env, timeout=timeout)

    def php(self, script, *arguments, php_options=()):
        return run(WWW + ['php'] + list(php_options) + [script] + list(arguments), timeout=1800)

    def reset_and_deploy(self):
        """The harness's reset.sh, then the branch's plugin; returns the keep_access service token."""
        run([os.path.join(TOOLS, 'reset.sh')], env=self.env, timeout=900)
        target = os.path.join(self.dirroot, 'local', 'keepaccess')
        run(['rsync', '-a', '--delete', PLUGIN_DIR + '/', target + '/'])
        self.php(os.path.join(self.dirroot, 'admin', 'cli', 'upgrade.php'), '--non-interactive')
        self.php(os.path.join(self.dirroot, 'admin', 'cli', 'purge_caches.php'))
        return self.php(os.path.join(target, 'cli', 'create_service_user.php'), '--print-token-only').strip()

    def save_fixture(self):
        """Keep the current site as the benchmark's fixture (template database, moodledata copy)."""
        self.shell('stop_fpm; psql_su -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                   'WHERE datname = \'moodle\' AND pid <> pg_backend_pid()" >/dev/null; '
                   'psql_su -d postgres -c "DROP DATABASE IF EXISTS %s"; '
                   'psql_su -d postgres -c "CREATE DATABASE %s TEMPLATE moodle OWNER moodle"; '
                   'rsync -a --delete "$R/moodledata/" "$R/%s/"; start_fpm' % (BENCH_DB, BENCH_DB, BENCH_DATA))

    def restore_fixture(self):
        """Back to the benchmark's fixture; returns the seconds it took."""
        started = time.monotonic()
        self.shell('stop_fpm; psql_su -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                   'WHERE datname = \'moodle\' AND pid <> pg_backend_pid()" >/dev/null; '
                   'psql_su -d postgres -c "DROP DATABASE moodle"; '
                   'psql_su -d postgres -c "CREATE DATABASE moodle TEMPLATE %s OWNER moodle"; '
                   'rsync -a --delete "$R/%s/" "$R/moodledata/"; start_fpm' % (BENCH_DB, BENCH_DATA))
        return time.monotonic() - started


def run(command, env=None, timeout=900):
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=timeout, check=False, cwd='/tmp')
    if completed.returncode != 0:
        raise SystemExit('%s failed (rc %d): %s' % (' '.join(command[:6]), completed.returncode,
                                                    (completed.stderr or completed.stdout)[-3000:]))
    return completed.stdout


def load():
    return os.getloadavg()[0]


# ------------------------------------------------------------------ the three parts

def moodle_backup_restore(harness, course):
    """(a) Moodle's own backup + restore of the course, timed inside PHP and from here."""
    started, load_before = time.monotonic(), load()
    answer = json.loads(harness.php(os.path.join(BENCH_DIR, 'moodle_backup_restore.php'),
                                    '--moodle=' + harness.code_root, '--course=' + course).strip().splitlines()[-1])
    answer.update(wall=time.monotonic() - started, load=(load_before, load()))
    return answer


def core_calls(harness, admin_token, reader_token, course, end, max_input_vars):
    """(b) enrol_manual_enrol_users for every student of the course, largest safe batches (the students are read
    beforehand with the companion's token, not timed)."""
    client = MoodleClient(harness.url, admin_token, batch_size=100000, max_input_vars=max_input_vars, timeout=900)
    answer = KeepAccessApi(MoodleClient(harness.url, reader_token, timeout=600)).read_course_enrolments(course['id'])
    roleid = next(r['id'] for r in answer['roles'] if r['shortname'] == 'student')
    students = sorted(set(ra['userid'] for ra in answer['roleassignments']
                          if ra['roleid'] == roleid and ra['component'].startswith('enrol_')))
    rows = [{'roleid': roleid, 'userid': userid, 'courseid': course['id'], 'timestart': 0, 'timeend': end,
             'suspend': 0} for userid in students]
    started, load_before = time.monotonic(), load()
    results = client.call_batched(CORE_FUNCTION, 'enrolments', rows, idempotent=True,
                                  fields_per_row=CORE_FIELDS_PER_ROW)
    return {'wall': time.monotonic() - started, 'load': (load_before, load()), 'rows': len(rows),
            'calls': len(results), 'rows_per_call': client.rows_per_call('enrolments', rows,
                                                                         fields_per_row=CORE_FIELDS_PER_ROW)}


def keep_access_playbook(harness, token, course, end, workdir):
    """(c) ansible-playbook cemu.moodle.keep_access on the course alone; wall time and its stages."""
    inventory = os.path.join(workdir, 'inventory.yml')
    with open(inventory, 'w') as handle:
        json.dump({'moodle_courses': {'hosts': {course: {}}, 'vars': {
            'moodle_url': harness.url, 'moodle_token': token, 'keep_access_end': end,
            'keep_access_backup_dir': os.path.join(workdir, 'backups'),
            'keep_access_report_dir': os.path.join(workdir, 'reports')}}}, handle)
    junit = tempfile.mkdtemp(dir=workdir, prefix='junit-')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.junit',
               JUNIT_OUTPUT_DIR=junit, JUNIT_HIDE_TASK_ARGUMENTS='true', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_HOME=os.path.join(workdir, 'ansible-home'))
    for name in ('MOODLE_URL', 'MOODLE_TOKEN'):
        env.pop(name, None)
    command = [sys.executable, '-m', 'ansible.cli.playbook', '-i', inventory,
               os.path.join(REPO_ROOT, 'playbooks', 'keep_access.yml')]
    started, load_before = time.monotonic(), load()
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=1800, check=False)
    wall = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit('keep_access failed (rc %d):\n%s' % (completed.returncode, completed.stdout[-4000:]))
    stages = junit_stages(junit)
    stages['start'] = max(0.0, wall - sum(stages.values()))
    return {'wall': wall, 'load': (load_before, load()), 'stages': stages, 'output': completed.stdout}


def junit_stages(junit_dir):
    """{stage: seconds} from the junit callback's report (tasks not in STAGES count as 'other')."""
    stages = dict((name, 0.0) for name, _tasks in STAGES)
    stages['other'] = 0.0
    for name in os.listdir(junit_dir):
        for case in ElementTree.parse(os.path.join(junit_dir, name)).getroot().iter('testcase'):
            task = case.get('name', '')
            stage = next((stage for stage, prefixes in STAGES if any(p in task for p in prefixes)), 'other')
            stages[stage] += float(case.get('time', 0))
    return stages


def converted(harness, token, course, end):
    """Students holding an active manual enrolment that ends at ``end`` (a check, not timed)."""
    answer = KeepAccessApi(MoodleClient(harness.url, token, timeout=600)).read_course_enrolments(course['id'])
    manual = set(i['id'] for i in answer['instances'] if i['enrol'] == 'manual')
    return sum(1 for ue in answer['userenrolments']
               if ue['enrolid'] in manual and int(ue['status']) == 0 and int(ue['timeend']) == end)


# ------------------------------------------------------------------ profile

def profile_apply(harness, course, end):
    """One apply call of every student under Xdebug's profiler: the server's time by function."""
    from tests.bench.cachegrind_summary import parse
    out = tempfile.mkdtemp(prefix='cemu-xdebug-')
    os.chmod(out, 0o777)
    script = os.path.join(BENCH_DIR, 'moodle_apply_profile.php')
    arguments = ('--moodle=' + harness.code_root, '--course=' + course, '--end=%d' % end)
    plain = json.loads(harness.php(script, *arguments).strip().splitlines()[-1])
    harness.restore_fixture()
    harness.php(script, *arguments, php_options=(
        '-d', 'zend_extension=xdebug.so', '-d', 'xdebug.mode=profile', '-d', 'xdebug.start_with_request=yes',
        '-d', 'xdebug.output_dir=' + out, '-d', 'xdebug.profiler_output_name=cachegrind.out'))
    stats, total = parse(os.path.join(out, 'cachegrind.out'))
    shutil.rmtree(out, ignore_errors=True)
    shares = {}
    for wanted in PROFILE_FUNCTIONS:
        for name, (calls, inclusive, _own) in stats.items():
            if wanted in name:
                shares[name] = (calls, 100.0 * inclusive / total)
    return plain, shares


# ------------------------------------------------------------------ figures

def spread(values, digits=1):
    return '{0:.{3}f}-{1:.{3}f} (median {2:.{3}f})'.format(min(values), max(values), statistics.median(values), digits)


def print_run(index, figures):
    print('\nrun %d' % index)
    if 'a' in figures:
        a = figures['a']
        values = (a['wall'], a['backup_seconds'], a['restore_seconds'], a['manual_enrolments_after'], a['load'][0],
                  a['load'][1])
        print("  (a) Moodle backup + restore: %5.1f s  (backup %.1f s, restore %.1f s; %d manual enrolments after)"
              "  load %.1f -> %.1f" % values)
    if 'b' in figures:
        b = figures['b']
        print('  (b) core calls:              %5.1f s  (%d rows, %d calls of up to %d rows)  load %.1f -> %.1f'
              % (b['wall'], b['rows'], b['calls'], b['rows_per_call'], b['load'][0], b['load'][1]))
    if 'c' in figures:
        c = figures['c']
        stages = ', '.join('%s %.1f s' % (name, c['stages'][name])
                           for name in ('start', 'site check', 'backup', 'restore', 'end dates', 'report', 'other'))
        print('  (c) ansible-playbook keep_access: %5.1f s  (%s; %d converted and ended)  load %.1f -> %.1f'
              % (c['wall'], stages, c['converted'], c['load'][0], c['load'][1]))
    if 'a' in figures and 'c' in figures:
        print('  c / a = %.2f (target <= 0.25)' % (figures['c']['wall'] / figures['a']['wall']))
    if 'b' in figures and 'c' in figures:
        print('  c / b = %.2f (target <= 0.5)' % (figures['c']['wall'] / figures['b']['wall']))


def print_summary(runs):
    print('\nover %d run(s): min-max (median)' % len(runs))
    for part, label in (('a', '(a) Moodle backup + restore'), ('b', '(b) core calls'), ('c', '(c) keep_access')):
        values = [r[part]['wall'] for r in runs if part in r]
        if values:
            print('  %-30s %s s' % (label, spread(values)))
    for num, den, target in (('c', 'a', 0.25), ('c', 'b', 0.5)):
        values = [r[num]['wall'] / r[den]['wall'] for r in runs if num in r and den in r]
        if values:
            print('  %s / %s %27s %s (target <= %.2f)' % (num, den, '', spread(values, 2), target))
    stage_names = ('start', 'site check', 'backup', 'restore', 'end dates', 'report', 'other')
    stages = [r['c']['stages'] for r in runs if 'c' in r]
    if stages:
        parts = ['%s %s s' % (n, spread([s[n] for s in stages])) for n in stage_names]
        print('  where keep_access goes: ' + ', '.join(parts))
    loads = [value for r in runs for part in r.values() for value in part['load']]
    print('  load average (1 min) while measuring: %.1f-%.1f, mean %.1f'
          % (min(loads), max(loads), statistics.mean(loads)))


def main(argv=None):
    args = parse_args(argv)
    harness = Harness(args.harness, args.pg_port, args.http_port)
    print('harness %s (%s), course %s, end %s, %d run(s); load %.1f %.1f %.1f'
          % (args.harness, harness.url, args.course, args.end, args.repeat, *os.getloadavg()), flush=True)
    token_file = os.path.join(args.harness, BENCH_DATA + '.token')
    if args.reuse_fixture and os.path.exists(token_file):
        with open(token_file) as handle:
            token = handle.read().strip()
    else:
        started = time.monotonic()
        token = harness.reset_and_deploy()
        harness.save_fixture()
        with open(token_file, 'w') as handle:
            handle.write(token)
        os.chmod(token_file, 0o600)
        print('fixture prepared (reset, plugin deployed, saved) in %.0f s' % (time.monotonic() - started))
    client = MoodleClient(harness.url, token, timeout=600)
    info = client.site_info()
    course = KeepAccessApi(client).find_course(args.course, by='shortname')
    timezone = KeepAccessApi(client).read_course_enrolments(course['id'])['timezone']
    end = parse_end(args.end, resolve_timezone(timezone))
    print('Moodle %s; plugin deployed from %s' % (info.get('release'), PLUGIN_DIR), flush=True)
    runs = []
    workdir = tempfile.mkdtemp(prefix='cemu-bench-real-')
    try:
        for index in range(1, args.repeat + 1):
            figures = {}
            for part in args.parts:
                harness.restore_fixture()
                if part == 'a':
                    figures['a'] = moodle_backup_restore(harness, args.course)
                elif part == 'b':
                    figures['b'] = core_calls(harness, args.admin_token, token, course, end, args.max_input_vars)
                elif part == 'c':
                    figures['c'] = keep_access_playbook(harness, token, args.course, args.end,
                                                        tempfile.mkdtemp(dir=workdir))
                    figures['c']['converted'] = converted(harness, token, course, end)
            print_run(index, figures)
            sys.stdout.flush()
            runs.append(figures)
        print_summary(runs)
        if args.profile:
            harness.restore_fixture()
            plain, shares = profile_apply(harness, args.course, end)
            values = (plain['seconds'], plain['ms_per_row'], plain['db_reads'], plain['db_writes'], load())
            print('\none apply call of every student (server side, no HTTP): %.1f s, %.2f ms per row, '
                  '%d database reads, %d writes; load %.1f' % values)
            print('under Xdebug, share of the call by function (inclusive):')
            for name, (calls, share) in sorted(shares.items(), key=lambda item: -item[1][1]):
                print('  %-70s %6d calls %5.1f %%' % (name[:70], calls, share))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        harness.restore_fixture()
    return 0


if __name__ == '__main__':
    sys.exit(main())
