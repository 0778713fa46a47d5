# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The version matrix: every ansible-core the collection supports, each on a Python it supports.

``make matrix`` (and ``.ci/run`` after ``make test``) runs
``python -m tests.tools.matrix [VERSION ...] [--stages STAGE,...]``. For each
ansible-core of MATRIX it

- ``setup``: creates ``.cache/matrix/ansible-core-<version>`` with that Python
  and installs that ansible-core, the collection's ``requirements.txt`` and
  pytest (again only when what it needs changed),
- ``sanity``: runs ``ansible-test sanity --python X.Y --requirements`` in the
  staged copy of the collection (tests/tools/stage_collection.py), with the
  offline get-pip stand-in for the pip version that ansible-core pins,
- ``unit``: runs ``pytest tests/unit``,
- ``smoke``: runs SMOKE_TESTS: playbooks/keep_access.yml over an inventory of
  cemu.moodle.courses against the simulator (check run, real run, a second run
  that changes nothing) and the inventory's values staying unsafe,

then prints one line per version and stage (result and seconds) and fails when
any failed. A stage after a failed ``setup`` is not run and counts as failed.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
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
# Where ansible-test says which pip it bootstraps into its virtualenvs (pip='24.2' in 2.19).
PIP_PIN = re.compile(r"""\bpip=['"]([0-9][0-9.]*)['"]""")


class Outcome(NamedTuple):
    """How one stage of one version ended and how long it took."""

    version: str
    python: str
    stage: str
    status: int
    seconds: float
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


def run(command, cwd=REPO_ROOT, env=None, log=None):
    """Run a command; its output goes to the log file (shown when it fails) or the terminal."""
    sys.stdout.write('$ %s    (in %s)\n' % (' '.join(command), os.path.relpath(cwd, REPO_ROOT)))
    sys.stdout.flush()
    if log is None:
        return subprocess.call(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    with open(log, 'w', encoding='utf-8') as handle:
        status = subprocess.call(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                                 stderr=subprocess.STDOUT)
    if status != 0:
        with open(log, encoding='utf-8', errors='replace') as handle:
            sys.stdout.write(handle.read()[-20000:])
    return status


def setup(version, python_version):
    """Create the version's virtualenv and install what it needs (only when that changed)."""
    interpreter = find_python(python_version)
    if interpreter is None:
        sys.stdout.write('no python%s: not on PATH, not in ~/.pyenv/versions (set PYENV_ROOT)\n' % python_version)
        return 1
    wanted = '\n'.join([interpreter] + requirements(version)) + '\n'
    stamp = os.path.join(venv_dir(version), '.installed')
    if os.path.exists(stamp) and open(stamp, encoding='utf-8').read() == wanted:
        return 0
    shutil.rmtree(venv_dir(version), ignore_errors=True)
    os.makedirs(REPORT_DIR, exist_ok=True)
    log = os.path.join(REPORT_DIR, '%s-setup.log' % version)
    status = run([interpreter, '-m', 'venv', venv_dir(version)], log=log)
    if status == 0:
        status = run([venv_python(version), '-m', 'pip', 'install', '--disable-pip-version-check', '--upgrade',
                      'pip'] + requirements(version), log=log)
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
    if not os.path.exists(cache_path):
        os.makedirs(os.path.dirname(cache_path), exist_ok=True)
        shutil.copyfile(STANDIN, cache_path)
        sys.stdout.write('installed the get-pip stand-in at %s\n' % cache_path)


def sanity(version, python_version):
    """ansible-test sanity of this version in the staged collection."""
    pip_version = ansible_test_pip_version(version)
    if pip_version:
        ensure_get_pip_standin(pip_version)
    ansible_test = os.path.join(venv_dir(version), 'bin', 'ansible-test')
    return run([ansible_test, 'sanity', '--python', python_version, '--requirements', '--color', 'no'],
               cwd=stage(), env=child_env(version))


def pytest(version, name, paths):
    os.makedirs(REPORT_DIR, exist_ok=True)
    report = os.path.join(REPORT_DIR, '%s-%s.xml' % (version, name))
    return run([venv_python(version), '-m', 'pytest', '-q', '-rfEs', '-p', 'no:cacheprovider',
                '--junitxml=' + report] + list(paths), env=child_env(version))


def unit(version, _python_version):
    return pytest(version, 'unit', ['tests/unit'])


def smoke(version, _python_version):
    return pytest(version, 'smoke', SMOKE_TESTS)


STAGE_RUNNERS = {'setup': setup, 'sanity': sanity, 'unit': unit, 'smoke': smoke}


def run_version(version, python_version, stages):
    """Run the stages of one version; a failed setup fails the rest without running them."""
    outcomes = []
    ready = True
    for name in ('setup',) + tuple(s for s in stages if s != 'setup'):
        sys.stdout.write('\n===== ansible-core %s on Python %s: %s =====\n' % (version, python_version, name))
        sys.stdout.flush()
        if not ready:
            outcomes.append(Outcome(version, python_version, name, 1, 0.0, 'not run: setup failed'))
            continue
        started = time.monotonic()
        status = STAGE_RUNNERS[name](version, python_version)
        outcomes.append(Outcome(version, python_version, name, status, time.monotonic() - started))
        ready = ready and not (name == 'setup' and status != 0)
    return outcomes


def table(outcomes):
    """The results as text: one line per version and stage, a total per version, the grand total."""
    row = '%-12s %-7s %-7s %-11s %8s %s'
    lines = [row % ('ansible-core', 'python', 'stage', 'result', 'seconds', '')]
    for version in sorted(set(o.version for o in outcomes), key=lambda v: tuple(int(p) for p in v.split('.'))):
        mine = [o for o in outcomes if o.version == version]
        for outcome in mine:
            result = 'ok' if outcome.status == 0 else 'FAILED(%d)' % outcome.status
            lines.append(row % (outcome.version, outcome.python, outcome.stage, result, '%.1f' % outcome.seconds,
                                outcome.note))
        result = 'ok' if all(o.status == 0 for o in mine) else 'FAILED'
        lines.append(row % (version, mine[0].python, 'all', result, '%.1f' % sum(o.seconds for o in mine), ''))
    lines.append(row % ('total', '', '', '', '%.1f' % sum(o.seconds for o in outcomes), ''))
    return '\n'.join(line.rstrip() for line in lines) + '\n'


def parse_args(argv):
    summary = __doc__.split('\n\n', maxsplit=1)[0]
    parser = argparse.ArgumentParser(prog='python -m tests.tools.matrix', description=summary)
    parser.add_argument('versions', nargs='*', metavar='VERSION', help='ansible-core X.Y (default: all of MATRIX)')
    parser.add_argument('--stages', default=','.join(STAGES),
                        help='comma-separated subset of %s (setup always runs)' % ','.join(STAGES))
    args = parser.parse_args(argv)
    known = dict(MATRIX)
    unknown = [v for v in args.versions if v not in known] + [s for s in args.stages.split(',') if s not in STAGES]
    if unknown:
        parser.error('unknown version or stage: %s (versions: %s)' % (', '.join(unknown), ', '.join(known)))
    return [(v, known[v]) for v in (args.versions or [v for v, _p in MATRIX])], tuple(args.stages.split(','))


def main(argv=None):
    """Run the matrix; return 0 only when every stage of every version passed."""
    versions, stages = parse_args(sys.argv[1:] if argv is None else argv)
    outcomes = []
    for version, python_version in versions:
        outcomes.extend(run_version(version, python_version, stages))
    text = table(outcomes)
    os.makedirs(REPORT_DIR, exist_ok=True)
    with open(os.path.join(REPORT_DIR, 'table.txt'), 'w', encoding='utf-8') as handle:
        handle.write(text)
    sys.stdout.write('\n' + text)
    return 0 if all(o.status == 0 for o in outcomes) else 1


if __name__ == '__main__':
    sys.exit(main())
