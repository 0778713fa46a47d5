# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: each module's own CPU time and peak memory on a course of 20,000 enrolments.

    python -m tests.bench.bench_modules [--users 20000] [--batch-size 500]

A script, not a test: it prints figures for people to read. The simulator
(fixture ``bench``, course BENCH-BIG) runs in a thread of this process; each
module runs the way Ansible runs it on the managed host, as its own Python
process reading an arguments file (``{"ANSIBLE_MODULE_ARGS": ...}``). That
process is started by a small measuring process, so that
``getrusage(RUSAGE_CHILDREN)`` there covers exactly one module run: user +
system CPU seconds and peak resident memory. The simulator's own work is not
counted. Aim (issue 4): under 2 s CPU and 150 MB per module run.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from tests.collection_path import collections_root  # noqa: E402
from tests.simulator import Simulator  # noqa: E402

TOKEN = 'bench-token-6b2f0d'
COURSE = 'BENCH-BIG'
AIM_CPU_SECONDS = 2.0
AIM_PEAK_MB = 150.0
MODULE_PACKAGE = 'ansible_collections.cemu.moodle.plugins.modules.'

# Run by the measuring process: start the module, wait, report its rusage as JSON on stderr.
MEASURE = '''
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(json.dumps({"rc": done.returncode, "cpu": usage.ru_utime + usage.ru_stime,
                             "maxrss_kb": usage.ru_maxrss, "stdout": done.stdout.decode("utf-8", "replace")}))
'''

# (label, module, options beyond connection/course/backup_dir; None removes an option)
RUNS = [
    ('backup', 'moodle_backup_enrolments', {}),
    ('backup again (no change)', 'moodle_backup_enrolments', {}),
    ('restore, check mode', 'moodle_restore_manual', {'_ansible_check_mode': True}),
    ('restore', 'moodle_restore_manual', {}),
    ('restore again (no change)', 'moodle_restore_manual', {}),
    ('set end', 'moodle_set_enrol_end', {'end': '2099-09-30', 'backup_dir': None}),
    ('set end again (no change)', 'moodle_set_enrol_end', {'end': '2099-09-30', 'backup_dir': None}),
    ('undo restore (state=absent)', 'moodle_restore_manual', {'state': 'absent'}),
]


def run_module(module, options, workdir):
    """Run one module as its own process; return (rusage dict, module result, wall seconds)."""
    args_path = os.path.join(workdir, 'args.json')
    with open(args_path, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': options}, handle)
    env = dict(os.environ, PYTHONPATH=collections_root())
    started = time.monotonic()
    measured = subprocess.run([sys.executable, '-c', MEASURE, sys.executable, '-m', MODULE_PACKAGE + module,
                               args_path], env=env, stderr=subprocess.PIPE, check=True)
    wall = time.monotonic() - started
    usage = json.loads(measured.stderr.decode('utf-8'))
    try:
        result = json.loads(usage['stdout'])
    except ValueError:
        result = {'failed': True, 'msg': usage['stdout'][-500:]}
    return usage, result, wall


def summary(result):
    if result.get('failed'):
        return 'FAILED: %s' % result.get('msg')
    counts = result.get('counts') or {}
    if 'removed' in result:
        counts = {'removed': len(result['removed']), 'reverted': len(result['reverted'])}
    return 'changed=%s %s' % (result.get('changed'), json.dumps(counts, sort_keys=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--users', type=int, default=20000, help='enrolments in the big course (default 20000)')
    parser.add_argument('--batch-size', type=int, default=500, help='batch_size option (default 500)')
    arguments = parser.parse_args()

    started = time.monotonic()
    sim = Simulator(version='4.5', fixture='bench', token=TOKEN, courses=0, big=arguments.users).start()
    print('simulator: course %s with %d database enrolments built in %.1f s'
          % (COURSE, arguments.users + 1, time.monotonic() - started))
    workdir = tempfile.mkdtemp(prefix='cemu-moodle-bench-')
    base = {'moodle_url': sim.url, 'moodle_token': TOKEN, 'course': COURSE, 'batch_size': arguments.batch_size,
            'backup_dir': os.path.join(workdir, 'backups')}
    print('%-30s %9s %9s %8s  %s' % ('module run', 'CPU s', 'peak MB', 'wall s', 'result'))
    worst_cpu = worst_mb = 0.0
    try:
        for label, module, extra in RUNS:
            options = dict((k, v) for k, v in dict(base, **extra).items() if v is not None)
            usage, result, wall = run_module(module, options, workdir)
            peak_mb = usage['maxrss_kb'] / 1024.0
            worst_cpu, worst_mb = max(worst_cpu, usage['cpu']), max(worst_mb, peak_mb)
            print('%-30s %9.2f %9.1f %8.2f  %s' % (label, usage['cpu'], peak_mb, wall, summary(result)))
            sys.stdout.flush()
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    verdict = 'within' if worst_cpu < AIM_CPU_SECONDS and worst_mb < AIM_PEAK_MB else 'OVER'
    print('worst: %.2f s CPU, %.1f MB: %s the aim (< %.0f s, < %.0f MB per module run)'
          % (worst_cpu, worst_mb, verdict, AIM_CPU_SECONDS, AIM_PEAK_MB))


if __name__ == '__main__':
    main()
