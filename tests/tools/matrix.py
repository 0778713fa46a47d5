# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The version matrix: every ansible-core the collection supports, each on a Python it supports.

``make matrix`` (and ``make test``, whose last stage it is) runs
``python -m tests.tools.matrix [VERSION ...] [--stages STAGE,...] [--jobs N]``.
For each ansible-core of MATRIX it

- ``setup``: creates ``.cache/matrix/ansible-core-<version>`` with that Python
  and installs that ansible-core, the collection's ``requirements.txt`` and
  pytest (again only when what it needs changed),
- ``sanity``: runs ``ansible-test sanity --python X.Y --requirements`` in the
  version's own staged copy of the collection (tests/tools/stage_collection.py,
  ``.cache/matrix/stage-<version>``), with the offline get-pip stand-in for the
  pip version that ansible-test pins,
- ``unit``: runs ``pytest tests/unit``,
- ``smoke``: runs SMOKE_TESTS: playbooks/keep_access.yml over an inventory of
  cemu.moodle.courses against the simulator (check run, real run, a second run
  that changes nothing) and the inventory's values staying unsafe.

Versions run ``--jobs`` at a time (default 2), each stage's output in
``tests/output/matrix/<version>-<stage>.log`` (its end is printed when the
stage fails). At the end it prints one line per version and stage: result,
wall-clock seconds, and the CPU seconds its processes used (which a busy
machine does not inflate); it fails when any stage failed. A stage after a
failed ``setup`` is not run and counts as failed.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from tests.tools.stage_collection import REPO_ROOT, stage

# ansible-core -> the Python it is tested on. Together they cover Python 3.10 to 3.13;
# each pair is one ansible-core's supported controller Pythons (2.20 and 2.21 need 3.12+).
MATRIX = (
    ('2.15', '3.11'),
    ('2.16', '3.10'),
    ('2.17', '3.12'),
    ('2.18', '3.13'),
    ('2.19', '3.12'),
    ('2.20', '3.12'),
    ('2.21', '3.13'),
)
STAGES = ('setup', 'sanity', 'unit', 'smoke')
SMOKE_TESTS = ('tests/integration/test_keep_access_playbook.py', 'tests/integration/test_inventory_unsafe.py')
MATRIX_DIR = os.path.join(REPO_ROOT, '.cache', 'matrix')
REPORT_DIR = os.path.join(REPO_ROOT, 'tests', 'output', 'matrix')
STANDIN = os.path.join(REPO_ROOT, 'tests', 'tools', 'get_pip_standin.py')
TEST_PACKAGES = ('pytest>=8,<10',)
# Versions run side by side: each mostly runs one process at a time (pylint, pytest, ansible-playbook),
# so two keep the 2 cores of CI busy.
DEFAULT_JOBS = 2
# Where ansible-test says which pip it bootstraps into its virtualenvs (pip='24.2' in 2.19).
PIP_PIN = re.compile(r"""\bpip=['"]([0-9][0-9.]*)['"]""")


class Outcome(NamedTuple):
    """How one stage of one version ended and how long it took."""

    version: str
    python: str
    stage: str
    status: int
    seconds: float
    cpu_seconds: float = 0.0
    note: str = ''


def venv_dir(version):
    return os.path.join(MATRIX_DIR, 'ansible-core-' + version)


def venv_python(version):
    return os.path.join(venv_dir(version), 'bin', 'python')


def find_python(python_version, environ=None):
    """The interpreter for X.Y: ``pythonX.Y`` on PATH, else the newest pyenv build of X.Y; None when absent.

    pyenv's shims on PATH are skipped: a shim runs only the versions pyenv is set to use.
    """
    environ = os.environ if environ is None else environ
    path = os.pathsep.join(p for p in environ.get('PATH', '').split(os.pathsep) if os.path.basename(p) != 'shims')
    on_path = shutil.which('python' + python_version, path=path)
    if on_path:
        return on_path
    pyenv_root = environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')
    builds = glob.glob(os.path.join(pyenv_root, 'versions', python_version + '.*', 'bin', 'python' + python_version))
    builds = [b for b in builds if re.search(r'/%s\.\d+/bin/' % re.escape(python_version), b)]
    return sorted(builds, key=_version_key)[-1] if builds else None


def _version_key(path):
    build = re.search(r'/(\d+)\.(\d+)\.(\d+)/bin/', path)
    return tuple(int(part) for part in build.groups()) if build else (0, 0, 0)


def requirements(version):
    """What the version's virtualenv gets: that ansible-core, the collection's requirements, the test tools."""
    with open(os.path.join(REPO_ROOT, 'requirements.txt'), encoding='utf-8') as handle:
        collection = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith('#')]
    return ['ansible-core==%s.*' % version] + collection + list(TEST_PACKAGES)


def child_env(version):
    """The environment a version's tools run in: its virtualenv first on PATH."""
    env = dict(os.environ)
    env['VIRTUAL_ENV'] = venv_dir(version)
    env['PATH'] = os.pathsep.join([os.path.join(venv_dir(version), 'bin')]
                                  + [p for p in env.get('PATH', '').split(os.pathsep)
                                     if not p.startswith(os.path.join(REPO_ROOT, '.venv'))])
    env.pop('PYTHONHOME', None)
    return env


# The output lock keeps the lines of versions running side by side whole; the CPU account is per thread.
_OUTPUT = threading.Lock()
_CPU = threading.local()
# ansible-test keeps its sanity virtualenvs in ~/.ansible/test/venv/<test>/<python>/<hash of pip commands>:
# two versions on one Python may share one, so their sanity stages never run side by side.
_SANITY_BY_PYTHON = dict((python, threading.Lock()) for _version, python in MATRIX)


def say(text):
    with _OUTPUT:
        sys.stdout.write(text)
        sys.stdout.flush()


def log_path(version, stage_name):
    return os.path.join(REPORT_DIR, '%s-%s.log' % (version, stage_name))


def run(command, log, cwd=REPO_ROOT, env=None):
    """Run a command with its output appended to the log; return its exit status and count its CPU time."""
    with open(log, 'a', encoding='utf-8') as handle:
        handle.write('$ %s    (in %s)\n' % (' '.join(command), os.path.relpath(cwd, REPO_ROOT)))
        handle.flush()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                                   stderr=subprocess.STDOUT)
        _pid, wait_status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(wait_status)
    _CPU.seconds = getattr(_CPU, 'seconds', 0.0) + usage.ru_utime + usage.ru_stime
    return process.returncode


def setup(version, python_version, log):
    """Create the version's virtualenv and install what it needs (only when that changed)."""
    interpreter = find_python(python_version)
    if interpreter is None:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('no python%s: not on PATH, not in ~/.pyenv/versions (set PYENV_ROOT)\n' % python_version)
        return 1
    wanted = '\n'.join([interpreter] + requirements(version)) + '\n'
    stamp = os.path.join(venv_dir(version), '.installed')
    if os.path.exists(stamp) and open(stamp, encoding='utf-8').read() == wanted:
        return 0
    shutil.rmtree(venv_dir(version), ignore_errors=True)
    status = run([interpreter, '-m', 'venv', venv_dir(version)], log)
    if status == 0:
        status = run([venv_python(version), '-m', 'pip', 'install', '--disable-pip-version-check', '--upgrade',
                      'pip'] + requirements(version), log)
    if status == 0:
        with open(stamp, 'w', encoding='utf-8') as handle:
            handle.write(wanted)
    return status


def ansible_test_pip_version(version):
    """The pip version this ansible-test bootstraps into its virtualenvs (None when it cannot tell)."""
    found = glob.glob(os.path.join(venv_dir(version), 'lib', 'python*', 'site-packages', 'ansible_test', '_internal',
                                   'python_requirements.py'))
    if not found:
        return None
    with open(found[0], encoding='utf-8') as handle:
        pinned = PIP_PIN.search(handle.read())
    return pinned.group(1) if pinned else None


def ensure_get_pip_standin(pip_version):
    """Put the offline get-pip stand-in where ansible-test looks first, unless a script is there already."""
    cache_path = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % pip_version.replace('.', '_'))
    with _OUTPUT:
        if not os.path.exists(cache_path):
            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            shutil.copyfile(STANDIN, cache_path)
            sys.stdout.write('installed the get-pip stand-in at %s\n' % cache_path)


def stage_dir(version):
    """The version's own staged copy of the collection (ansible-test keeps its results inside it)."""
    return os.path.join(MATRIX_DIR, 'stage-' + version, 'ansible_collections', 'cemu', 'moodle')


def sanity(version, python_version, log):
    """ansible-test sanity of this version in its staged copy of the collection."""
    pip_version = ansible_test_pip_version(version)
    if pip_version:
        ensure_get_pip_standin(pip_version)
    ansible_test = os.path.join(venv_dir(version), 'bin', 'ansible-test')
    with _SANITY_BY_PYTHON[python_version]:
        return run([ansible_test, 'sanity', '--python', python_version, '--requirements', '--color', 'no'], log,
                   cwd=stage(stage_dir=stage_dir(version)), env=child_env(version))


def pytest(version, name, paths, log):
    report = os.path.join(REPORT_DIR, '%s-%s.xml' % (version, name))
    return run([venv_python(version), '-m', 'pytest', '-q', '-rfEs', '-p', 'no:cacheprovider',
                '--junitxml=' + report] + list(paths), log, env=child_env(version))


def unit(version, _python_version, log):
    return pytest(version, 'unit', ['tests/unit'], log)


def smoke(version, _python_version, log):
    return pytest(version, 'smoke', SMOKE_TESTS, log)


STAGE_RUNNERS = {'setup': setup, 'sanity': sanity, 'unit': unit, 'smoke': smoke}


def run_stage(version, python_version, name):
    """Run one stage with a fresh log; return its Outcome (the log's tail is shown when it failed)."""
    log = log_path(version, name)
    open(log, 'w', encoding='utf-8').close()
    _CPU.seconds = 0.0
    started = time.monotonic()
    status = STAGE_RUNNERS[name](version, python_version, log)
    outcome = Outcome(version, python_version, name, status, time.monotonic() - started, _CPU.seconds)
    result = 'ok' if status == 0 else 'FAILED(%d), the end of %s:' % (status, os.path.relpath(log, REPO_ROOT))
    tail = ''
    if status != 0:
        with open(log, encoding='utf-8', errors='replace') as handle:
            tail = handle.read()[-15000:] + '\n'
    say('ansible-core %s (Python %s) %s: %s in %.0f s\n%s'
        % (version, python_version, name, result, outcome.seconds, tail))
    return outcome


def run_version(version, python_version, stages):
    """Run the stages of one version; a failed setup fails the rest without running them."""
    outcomes = []
    for name in ('setup',) + tuple(s for s in stages if s != 'setup'):
        if outcomes and outcomes[0].status != 0:
            outcomes.append(Outcome(version, python_version, name, 1, 0.0, note='not run: setup failed'))
            continue
        outcomes.append(run_stage(version, python_version, name))
    return outcomes


def table(outcomes):
    """The results as text: one line per version and stage, a total per version, the grand total."""
    row = '%-12s %-7s %-7s %-11s %8s %8s %s'
    lines = [row % ('ansible-core', 'python', 'stage', 'result', 'seconds', 'cpu', '')]
    for version in sorted(set(o.version for o in outcomes), key=lambda v: tuple(int(p) for p in v.split('.'))):
        mine = [o for o in outcomes if o.version == version]
        for outcome in mine:
            result = 'ok' if outcome.status == 0 else 'FAILED(%d)' % outcome.status
            lines.append(row % (outcome.version, outcome.python, outcome.stage, result, '%.1f' % outcome.seconds,
                                '%.1f' % outcome.cpu_seconds, outcome.note))
        result = 'ok' if all(o.status == 0 for o in mine) else 'FAILED'
        lines.append(row % (version, mine[0].python, 'all', result, '%.1f' % sum(o.seconds for o in mine),
                            '%.1f' % sum(o.cpu_seconds for o in mine), ''))
    lines.append(row % ('total', '', '', '', '%.1f' % sum(o.seconds for o in outcomes),
                        '%.1f' % sum(o.cpu_seconds for o in outcomes), ''))
    return '\n'.join(line.rstrip() for line in lines) + '\n'


def parse_args(argv):
    summary = __doc__.split('\n\n', maxsplit=1)[0]
    parser = argparse.ArgumentParser(prog='python -m tests.tools.matrix', description=summary)
    parser.add_argument('versions', nargs='*', metavar='VERSION', help='ansible-core X.Y (default: all of MATRIX)')
    parser.add_argument('--stages', default=','.join(STAGES),
                        help='comma-separated subset of %s (setup always runs)' % ','.join(STAGES))
    parser.add_argument('--jobs', type=int, default=int(os.environ.get('MATRIX_JOBS', DEFAULT_JOBS)),
                        help='versions run side by side (default MATRIX_JOBS or %d)' % DEFAULT_JOBS)
    args = parser.parse_args(argv)
    known = dict(MATRIX)
    unknown = [v for v in args.versions if v not in known] + [s for s in args.stages.split(',') if s not in STAGES]
    if unknown:
        parser.error('unknown version or stage: %s (versions: %s)' % (', '.join(unknown), ', '.join(known)))
    versions = [(v, known[v]) for v in (args.versions or [v for v, _p in MATRIX])]
    return versions, tuple(args.stages.split(',')), max(1, args.jobs)


def main(argv=None):
    """Run the matrix; return 0 only when every stage of every version passed."""
    versions, stages, jobs = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(REPORT_DIR, exist_ok=True)
    say('ansible-core %s, %d at a time; logs in %s\n'
        % (', '.join(v for v, _p in versions), jobs, os.path.relpath(REPORT_DIR, REPO_ROOT)))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = [pool.submit(run_version, version, python_version, stages) for version, python_version in versions]
        outcomes = [outcome for done in runs for outcome in done.result()]
    text = table(outcomes)
    with open(os.path.join(REPORT_DIR, 'table.txt'), 'w', encoding='utf-8') as handle:
        handle.write(text)
    sys.stdout.write('\n' + text)
    return 0 if all(o.status == 0 for o in outcomes) else 1


if __name__ == '__main__':
    sys.exit(main())
