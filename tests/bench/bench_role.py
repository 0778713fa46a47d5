# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the keep_access playbook over many courses against the simulator.

    python -m tests.bench.bench_role [--courses 200] [--students 30] [--forks 10]

Starts the simulator with the `bench` fixture (N courses of M database-enrolled
students), builds the inventory with cemu.moodle.courses, runs
playbooks/keep_access.yml once (the conversion) and once more (nothing to do),
and prints the wall time of each run, per course, and the controller's peak
memory (largest resident set of ansible-playbook and its workers). A script,
not a timed test: the numbers are for people to read. Aim: the conversion of
200 x 30 with 10 forks in under 2 minutes on a 2-core machine.

On a shared machine the wall time depends on what else runs, so each run also
prints the load average and the CPU seconds it used: Ansible (ansible-playbook,
its workers and the module processes) and the simulator (threads of this
process). Wall time on an idle machine is about their sum divided by the
cores, since Ansible keeps every core busy with 10 forks.
"""

import argparse
import datetime
import os
import resource
import shutil
import sys
import tempfile
import time

from tests.demo import runner
from tests.simulator import Simulator


def parse_args(argv):
    parser = argparse.ArgumentParser(description='keep_access playbook benchmark against the simulator')
    parser.add_argument('--courses', type=int, default=200)
    parser.add_argument('--students', type=int, default=30)
    parser.add_argument('--forks', type=int, default=10)
    return parser.parse_args(argv)


def cpu_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed_run(inventory, forks):
    """(wall seconds, {'ansible': CPU s, 'simulator': CPU s}, exit code, recap, output) of one playbook run."""
    started = time.monotonic()
    ansible_before, simulator_before = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    code, output = runner.run_playbook(inventory, forks=forks)
    cpu = {'ansible': cpu_seconds(resource.RUSAGE_CHILDREN) - ansible_before,
           'simulator': cpu_seconds(resource.RUSAGE_SELF) - simulator_before}
    return time.monotonic() - started, cpu, code, runner.recap(output), output


def children_peak_rss_mib():
    """Largest resident set of any finished child process (ansible-playbook or a worker), in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def print_run(title, seconds, cpu, recap, courses):
    failed = sorted(h for h, c in recap.items() if c.get('failed'))
    changed = sum(1 for c in recap.values() if c.get('changed'))
    print('%-22s %7.1f s total  %6.3f s per course  %d courses changed  %d failed%s'
          % (title, seconds, seconds / max(courses, 1), changed, len(failed),
             (' (' + ', '.join(failed[:5]) + ')') if failed else ''), flush=True)
    print('%-22s CPU: Ansible %.1f s (%.3f s per course), simulator %.1f s; load average after: %.1f'
          % ('', cpu['ansible'], cpu['ansible'] / max(courses, 1), cpu['simulator'], os.getloadavg()[0]),
          flush=True)


def main(argv=None):
    args = parse_args(argv)
    work = tempfile.mkdtemp(prefix='cemu-moodle-bench-')
    sim = Simulator(version='4.5', fixture='bench', token='bench-token-0123456789abcdef',
                    courses=args.courses, students=args.students, big=0).start()
    try:
        end = datetime.date(datetime.date.today().year + 1, 3, 31).isoformat()
        inventory = os.path.join(work, 'inventory')
        runner.write_site(inventory, sim.url, 'bench', sim.token, {
            'keep_access_end': end,
            'keep_access_backup_dir': os.path.join(work, 'backups'),
            'keep_access_report_dir': os.path.join(work, 'reports'),
        })
        print('Simulator (not a real Moodle) at %s: %d courses x %d students, forks %d, python %s, %d cores, '
              'load average before: %.1f' % (sim.url, args.courses, args.students, args.forks,
                                             sys.version.split()[0], os.cpu_count(), os.getloadavg()[0]), flush=True)
        first, cpu1, code1, recap1, output1 = timed_run(inventory, args.forks)
        print_run('run 1 (conversion)', first, cpu1, recap1, args.courses)
        second, cpu2, code2, recap2, dummy = timed_run(inventory, args.forks)
        print_run('run 2 (nothing to do)', second, cpu2, recap2, args.courses)
        print('controller peak memory: %.0f MiB (largest single process)' % children_peak_rss_mib())
        if code1 != 0 or len(recap1) != args.courses:
            print(output1[-3000:])
            return 1
        return 0
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
