# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the keep_access playbook over many courses against the simulator.

    python -m tests.bench.bench_role [--sizes 200x30,3000x30] [--forks 10]

For each size (courses x students) it starts the simulator with the `bench`
fixture (database-enrolled students), builds the inventory with
cemu.moodle.courses, runs playbooks/keep_access.yml once (the conversion) and
once more (nothing to do), and prints for each run: the wall time, the
controller's CPU seconds in all and per course (ansible-playbook, its workers
and any module process; the simulator's CPU is printed apart), the
controller's peak memory (largest resident set of any of its processes, and
ansible-playbook's main process sampled every 2 s) and the machine's load
average sampled while the run went on. A script, not a
timed test: the numbers are for people to read, next to the targets of
issue 11 (2 cores, forks 10): 200 x 30 first run <= 45 s, re-run <= 25 s,
3,000 x 30 <= 10 minutes, controller CPU <= 0.25 s per course.

On a shared machine the wall time depends on what else runs: compare the
CPU seconds, and read the load printed with them.
"""

import argparse
import datetime
import os
import resource
import shutil
import sys
import tempfile
import threading
import time

from tests.demo import runner
from tests.simulator import Simulator

TARGETS = {  # (courses, students) -> (first run s, re-run s)
    (200, 30): (45, 25),
    (3000, 30): (600, 600),
}
CPU_PER_COURSE_TARGET = 0.25


def parse_args(argv):
    parser = argparse.ArgumentParser(description='keep_access playbook benchmark against the simulator')
    parser.add_argument('--sizes', default='200x30,3000x30',
                        help='comma-separated COURSESxSTUDENTS, e.g. 200x30,3000x30 (default)')
    parser.add_argument('--forks', type=int, default=10)
    args = parser.parse_args(argv)
    args.sizes = [tuple(int(n) for n in size.split('x')) for size in args.sizes.split(',')]
    return args


def cpu_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class LoadSampler:
    """While a run goes on, every few seconds: os.getloadavg()[0] (min, mean, max) and the resident memory of
    ansible-playbook's main process (this process's child; the largest sample). The main process is the one
    forked for every task of every course, so its size is what each task's fork and exit cost grows with."""

    def __init__(self, every=2.0):
        self.every = every
        self.samples = [os.getloadavg()[0]]
        self.main_rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def _sample(self):
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])
            self.main_rss_kib = max([self.main_rss_kib] + children_rss_kib())

    def summary(self):
        return 'load average (1 min) while running: min %.1f, mean %.1f, max %.1f' % (
            min(self.samples), sum(self.samples) / len(self.samples), max(self.samples))


def children_rss_kib():
    """Resident memory (KiB) of each running child of this process, read from /proc (Linux; else none)."""
    found = []
    for entry in os.listdir('/proc') if os.path.isdir('/proc') else ():
        try:
            with open('/proc/%s/stat' % entry) as handle:
                parent = int(handle.read().rsplit(')', 1)[1].split()[1])
            if parent != os.getpid():
                continue
            with open('/proc/%s/status' % entry) as handle:
                found += [int(line.split()[1]) for line in handle if line.startswith('VmRSS:')]
        except (OSError, ValueError, IndexError):
            continue        # not a process, or it ended meanwhile
    return found


def timed_run(inventory, forks):
    """(wall seconds, {'ansible': CPU s, 'simulator': CPU s}, exit code, recap, output, load) of one playbook run."""
    started = time.monotonic()
    ansible_before, simulator_before = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    with LoadSampler() as load:
        code, output = runner.run_playbook(inventory, forks=forks, timeout=3600)
    cpu = {'ansible': cpu_seconds(resource.RUSAGE_CHILDREN) - ansible_before,
           'simulator': cpu_seconds(resource.RUSAGE_SELF) - simulator_before}
    return time.monotonic() - started, cpu, code, runner.recap(output), output, load


def children_peak_rss_mib():
    """Largest resident set of any finished child process (ansible-playbook or a worker), in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def print_run(title, seconds, cpu, recap, courses, load, target):
    failed = sorted(h for h, c in recap.items() if c.get('failed'))
    changed = sum(1 for c in recap.values() if c.get('changed'))
    print('%-24s %7.1f s wall (%s)  %6.3f s per course  %d courses changed  %d failed%s'
          % (title, seconds, 'target <= %d s' % target if target else 'no target for this size',
             seconds / max(courses, 1), changed, len(failed),
             (' (' + ', '.join(failed[:5]) + ')') if failed else ''), flush=True)
    print('%-24s controller CPU %.1f s = %.3f s per course (target <= %.2f); simulator CPU %.1f s'
          % ('', cpu['ansible'], cpu['ansible'] / max(courses, 1), CPU_PER_COURSE_TARGET, cpu['simulator']),
          flush=True)
    print('%-24s %s' % ('', load.summary()), flush=True)
    print('%-24s ansible-playbook main process: %.0f MiB resident at most (sampled every %.0f s)'
          % ('', load.main_rss_kib / 1024.0, load.every), flush=True)


def bench_size(courses, students, forks):
    """Both runs of one size; True when both succeeded."""
    work = tempfile.mkdtemp(prefix='cemu-moodle-bench-')
    sim = Simulator(version='4.5', fixture='bench', token='bench-token-0123456789abcdef',
                    courses=courses, students=students, big=0).start()
    first_target, rerun_target = TARGETS.get((courses, students), (0, 0))
    try:
        end = datetime.date(datetime.date.today().year + 1, 3, 31).isoformat()
        inventory = os.path.join(work, 'inventory')
        runner.write_site(inventory, sim.url, 'bench', sim.token, {
            'keep_access_end': end,
            'keep_access_backup_dir': os.path.join(work, 'backups'),
            'keep_access_report_dir': os.path.join(work, 'reports'),
        }, extra={'timeout': 600})   # the simulator lists thousands of courses slowly (not a real Moodle)
        print('\nSimulator (not a real Moodle): %d courses x %d students, forks %d, python %s, %d cores, '
              'load average before: %.1f' % (courses, students, forks, sys.version.split()[0], os.cpu_count(),
                                             os.getloadavg()[0]), flush=True)
        ok = True
        for title, target in (('run 1 (conversion)', first_target), ('run 2 (nothing to do)', rerun_target)):
            seconds, cpu, code, recap, output, load = timed_run(inventory, forks)
            print_run(title, seconds, cpu, recap, courses, load, target)
            if code != 0 or len(recap) != courses:
                print(output[-3000:])
                ok = False
        print('%-24s controller peak memory so far: %.0f MiB (largest single process)' % ('', children_peak_rss_mib()))
        return ok
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    args = parse_args(argv)
    results = [bench_size(courses, students, args.forks) for courses, students in args.sizes]   # every size runs
    ok = all(results)
    print('\ncontroller peak memory: %.0f MiB (largest single process of every run)' % children_peak_rss_mib())
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
