# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: how many lines ``ansible-playbook cemu.moodle.keep_access`` prints.

    python -m tests.bench.bench_output_lines [--courses 200] [--students 30] [--forks 10]
                                             [--display-ok-skipped] [--concise]

Against the simulator's ``bench`` fixture (database-enrolled students, no
cohort instance: the normal single-method course), with the default callback
at default verbosity, it runs the playbook four times: a first run (the
conversion) and a re-run (nothing to do), without and with ``--diff`` (the
site is reset in between, so that the ``--diff`` first run converts too), and
prints for each run the lines printed (stdout and stderr together), the lines
per course, the warnings and the PLAY RECAP's lines. ``--display-ok-skipped``
also runs them with ``ANSIBLE_DISPLAY_OK_HOSTS=false`` and
``ANSIBLE_DISPLAY_SKIPPED_HOSTS=false``; ``--concise`` with the collection's stdout callback
``cemu.moodle.concise`` (the README's advice for big runs).

A script, not a test: line counts depend on nothing but the code, but four
200-course runs take minutes. The integration test
tests/integration/test_keep_access_output.py asserts the bound on a few courses.
"""

import argparse
import datetime
import os
import shutil
import sys
import tempfile

from tests.demo import runner
from tests.simulator import Simulator

QUIET_HOSTS = {'ANSIBLE_DISPLAY_OK_HOSTS': 'false', 'ANSIBLE_DISPLAY_SKIPPED_HOSTS': 'false'}
CONCISE = {'ANSIBLE_STDOUT_CALLBACK': 'cemu.moodle.concise'}


def parse_args(argv):
    parser = argparse.ArgumentParser(description='lines printed by the keep_access playbook (simulator)')
    parser.add_argument('--courses', type=int, default=200)
    parser.add_argument('--students', type=int, default=30)
    parser.add_argument('--forks', type=int, default=10)
    parser.add_argument('--display-ok-skipped', action='store_true',
                        help='also run with ANSIBLE_DISPLAY_OK_HOSTS/ANSIBLE_DISPLAY_SKIPPED_HOSTS=false')
    parser.add_argument('--concise', action='store_true', help='also run with the stdout callback cemu.moodle.concise')
    return parser.parse_args(argv)


def output_figures(output, courses):
    lines = output.splitlines()
    recap_at = next((i for i, line in enumerate(lines) if line.startswith('PLAY RECAP')), len(lines))
    return {'lines': len(lines), 'per_course': len(lines) / float(max(courses, 1)),
            'warnings': sum(1 for line in lines if '[WARNING]' in line),
            'recap': sum(1 for line in lines[recap_at:] if runner.RECAP_LINE.match(line.strip()))}


def write_inventory(work, sim, name):
    inventory = os.path.join(work, name, 'inventory')
    end = datetime.date(datetime.date.today().year + 1, 3, 31).isoformat()
    runner.write_site(inventory, sim.url, 'bench', sim.token, {
        'keep_access_end': end,
        'keep_access_backup_dir': os.path.join(work, name, 'backups'),
        'keep_access_report_dir': os.path.join(work, name, 'reports'),
    }, extra={'timeout': 600})
    return inventory


def measure(sim, work, args, env, label):
    rows = []
    for diff in (False, True):
        sim.reset(fixture='bench', courses=args.courses, students=args.students, big=0)
        inventory = write_inventory(work, sim, '%s-%s' % (label, 'diff' if diff else 'plain'))
        for run in ('first run', 're-run'):
            code, output = runner.run_playbook(inventory, *(['--diff'] if diff else []), forks=args.forks,
                                               env=env, timeout=3600)
            figures = output_figures(output, args.courses)
            rows.append((label, run + (' --diff' if diff else ''), code, figures))
            print('%-22s %-16s exit %d  %6d lines  %5.2f per course  %4d warnings  %4d recap lines'
                  % (label, run + (' --diff' if diff else ''), code, figures['lines'], figures['per_course'],
                     figures['warnings'], figures['recap']), flush=True)
    return rows


def main(argv=None):
    args = parse_args(argv)
    work = tempfile.mkdtemp(prefix='cemu-moodle-lines-')
    sim = Simulator(version='4.5', fixture='bench', token='bench-token-0123456789abcdef',
                    courses=args.courses, students=args.students, big=0).start()
    print('Simulator (not a real Moodle): %d courses x %d students, forks %d, default callback, default verbosity'
          % (args.courses, args.students, args.forks), flush=True)
    try:
        rows = measure(sim, work, args, None, 'default settings')
        if args.display_ok_skipped:
            rows += measure(sim, work, args, QUIET_HOSTS, 'ok/skipped hidden')
        if args.concise:
            rows += measure(sim, work, args, CONCISE, 'cemu.moodle.concise')
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(code == 0 for _label, _run, code, _figures in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
