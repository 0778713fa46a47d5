# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's whole test suite, stage by stage, and time each stage.

``make test`` runs this inside the project's virtualenv:
``python -m tests.tools.suite [STAGE ...]`` (default: every stage in order).

Stages: ``sanity`` (ansible-test sanity in a staged copy of the collection),
``lint`` (ansible-lint, production profile, on roles and playbooks),
``changelog`` (antsibull-changelog lint), ``unit`` and ``integration``
(pytest), ``live`` (pytest tests/live, against the real Moodle that
tests/live/README.md describes; by default only when MOODLE_URL and
MOODLE_TOKEN are set) and ``matrix`` (tests/tools/matrix.py: sanity, unit
and smoke tests on every supported ansible-core, last). Every stage runs even when
an earlier one failed; the exit status is non-zero when any failed. The last
line adds up pytest's counts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import NamedTuple

from tests.tools.stage_collection import REPO_ROOT, STAGE_COLLECTIONS_ROOT, stage

REPORT_DIR = os.path.join(REPO_ROOT, 'tests', 'output', 'suite')
STANDIN = os.path.join(REPO_ROOT, 'tests', 'tools', 'get_pip_standin.py')
LINT_TARGETS = ('roles', 'playbooks')
PYTEST_COUNTS = ('passed', 'failed', 'skipped')


class StageResult(NamedTuple):
    """How one stage ended and how long it took."""

    name: str
    status: int
    seconds: float


def run(command, cwd=REPO_ROOT, env=None):
    """Run a command with the suite's output streams; return its exit status."""
    sys.stdout.write('\n$ %s    (in %s)\n' % (' '.join(command), os.path.relpath(cwd, REPO_ROOT)))
    sys.stdout.flush()
    return subprocess.call(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL)


def venv_tool(name):
    """Return the path of a console script installed beside the running Python."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else shutil.which(name) or name


def python_version():
    """Return the running Python's version as X.Y."""
    return '%d.%d' % sys.version_info[:2]


def get_pip_version():
    """Return the pip version ansible-test bootstraps into its virtualenvs."""
    try:
        # pylint: disable-next=import-outside-toplevel
        from ansible_test._internal.python_requirements import get_venv_packages
    except ImportError:
        return '24.2'

    class _Python:  # pylint: disable=too-few-public-methods
        version = python_version()

    return get_venv_packages(_Python())['pip']


def ensure_get_pip_standin():
    """Put the offline get-pip stand-in where ansible-test looks first, unless a script is there."""
    cache_path = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % get_pip_version().replace('.', '_'))
    if not os.path.exists(cache_path):
        os.makedirs(os.path.dirname(cache_path), exist_ok=True)
        shutil.copyfile(STANDIN, cache_path)
        sys.stdout.write('installed the get-pip stand-in at %s\n' % cache_path)


def stage_sanity():
    """ansible-test sanity over a staged copy of the collection."""
    stage_dir = stage()
    ensure_get_pip_standin()
    return run([venv_tool('ansible-test'), 'sanity', '--python', python_version(), '--requirements', '--color', 'no'],
               cwd=stage_dir)


def stage_lint():
    """ansible-lint with the production profile on roles and playbooks."""
    stage_dir = stage()
    targets = [name for name in LINT_TARGETS if os.path.isdir(os.path.join(stage_dir, name))]
    if not targets:
        sys.stdout.write('lint: no roles or playbooks yet\n')
        return 1
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=STAGE_COLLECTIONS_ROOT)
    return run([venv_tool('ansible-lint'), '--profile', 'production', '--offline', '--nocolor'] + targets,
               cwd=stage_dir, env=env)


def stage_changelog():
    """antsibull-changelog lint of the fragments and the changelog."""
    return run([venv_tool('antsibull-changelog'), 'lint'])


def junit_path(name):
    """Return where a pytest stage writes its JUnit report."""
    return os.path.join(REPORT_DIR, name + '.xml')


def parallel_options():
    """pytest-xdist's options, one worker per core (a file's tests stay together, see
    tests/integration/conftest.py); none without pytest-xdist."""
    try:
        import xdist  # noqa: F401 pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        return []
    return ['-n', 'auto', '--dist', 'loadgroup']


def pytest_stage(name, directory, parallel=False):
    """Return a stage running pytest on one test directory (``parallel``: on every core)."""
    def stage_pytest():
        os.makedirs(REPORT_DIR, exist_ok=True)
        report = junit_path(name)
        if os.path.exists(report):
            os.unlink(report)
        options = parallel_options() if parallel else []
        return run([sys.executable, '-m', 'pytest', directory, '-rfEs', '--junitxml=' + report] + options)
    stage_pytest.__doc__ = 'pytest %s' % directory
    return stage_pytest


def stage_matrix():
    """sanity, unit and smoke tests on every supported ansible-core (tests/tools/matrix.py)."""
    return run([sys.executable, '-m', 'tests.tools.matrix'])


STAGES = {
    'sanity': stage_sanity,
    'lint': stage_lint,
    'changelog': stage_changelog,
    'unit': pytest_stage('unit', 'tests/unit'),
    'integration': pytest_stage('integration', 'tests/integration', parallel=True),
    'live': pytest_stage('live', 'tests/live'),
    'matrix': stage_matrix,
}
# ``live`` runs against a real Moodle (see tests/live/README.md): by default
# only when MOODLE_URL and MOODLE_TOKEN are set; its tests then also need
# MOODLE_LIVE_DIR (the fixture scripts' Moodle) and skip, saying so, without it,
# so a token for a production site in the environment never leads to writes.
OFFLINE_STAGES = ('sanity', 'lint', 'changelog', 'unit', 'integration')


def default_stages(environ=None):
    """Every offline stage, ``live`` when a real Moodle is configured, and the version matrix last."""
    environ = os.environ if environ is None else environ
    if environ.get('MOODLE_URL') and environ.get('MOODLE_TOKEN'):
        return OFFLINE_STAGES + ('live', 'matrix')
    return OFFLINE_STAGES + ('matrix',)


def pytest_counts(names):
    """Add up passed/failed/skipped over the JUnit reports of the given stages."""
    counts = dict.fromkeys(PYTEST_COUNTS, 0)
    for name in names:
        if not os.path.exists(junit_path(name)):
            continue
        for suite in ET.parse(junit_path(name)).getroot().iter('testsuite'):
            tests, skipped = int(suite.get('tests', 0)), int(suite.get('skipped', 0))
            failed = int(suite.get('failures', 0)) + int(suite.get('errors', 0))
            counts['failed'] += failed
            counts['skipped'] += skipped
            counts['passed'] += tests - failed - skipped
    return counts


def print_summary(results):
    """Print one line per stage, then pytest's counts added up."""
    sys.stdout.write('\n%-12s %-7s %8s\n' % ('stage', 'result', 'seconds'))
    for result in results:
        outcome = 'ok' if result.status == 0 else 'FAILED(%d)' % result.status
        sys.stdout.write('%-12s %-7s %8.1f\n' % (result.name, outcome, result.seconds))
    sys.stdout.write('%-12s %-7s %8.1f\n' % ('total', '', sum(result.seconds for result in results)))
    counts = pytest_counts([result.name for result in results])
    sys.stdout.write('total: %(passed)d passed, %(failed)d failed, %(skipped)d skipped\n' % counts)


def main(argv=None):
    """Run the chosen stages (all by default); return 0 only if every one passed."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(default_stages())
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        sys.stderr.write('unknown stage(s): %s; known: %s\n' % (', '.join(unknown), ', '.join(STAGES)))
        return 2
    results = []
    for name in names:
        sys.stdout.write('\n===== %s: %s =====\n' % (name, STAGES[name].__doc__.strip().splitlines()[0]))
        sys.stdout.flush()
        started = time.monotonic()
        status = STAGES[name]()
        results.append(StageResult(name, status, time.monotonic() - started))
    print_summary(results)
    return 0 if all(result.status == 0 for result in results) else 1


if __name__ == '__main__':
    sys.exit(main())
