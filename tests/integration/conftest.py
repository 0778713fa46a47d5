# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests: the evidence recorder, the figures printed at the end of the suite, and parallel runs.

With pytest-xdist (``make integration`` runs ``-n auto --dist loadgroup``) the tests of one file run on one
worker, so that a file's shared set-up (simulators, a playbook run several tests assert on) is made once;
a file may split its tests into groups of their own with a function ``xdist_group(item)``. The workers send
their evidence to the controller, which prints it.
"""

import json

import pytest

from tests.integration.evidence import RECORDER


@pytest.fixture(scope='session')
def evidence():
    """The Recorder the fault, bad-input and security cases report to."""
    return RECORDER


def pytest_terminal_summary(terminalreporter):
    lines = RECORDER.lines()
    if lines:
        terminalreporter.section('cemu.moodle evidence: faults, bad input, security')
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items):
    """Each test in its file's xdist group, or in the group its file's xdist_group(item) names."""
    for item in items:
        group_of = getattr(item.module, 'xdist_group', None)
        group = group_of(item) if group_of else None
        item.add_marker(pytest.mark.xdist_group(item.module.__name__ + (':' + group if group else '')))


def pytest_configure(config):
    config.addinivalue_line('markers', 'xdist_group(name): run on the same pytest-xdist worker as its group')
    if config.pluginmanager.hasplugin('xdist'):
        config.pluginmanager.register(EvidenceFromWorkers(), 'cemu-moodle-evidence-from-workers')


class EvidenceFromWorkers:
    """pytest-xdist: each worker hands its RECORDER cases to the controller when it ends."""

    @staticmethod
    def pytest_sessionfinish(session):
        worker_output = getattr(session.config, 'workeroutput', None)
        if worker_output is not None:
            worker_output['cemu_moodle_evidence'] = json.dumps([[list(key), case]
                                                                for key, case in RECORDER.cases.items()])

    @staticmethod
    def pytest_testnodedown(node, error):
        del error
        for key, case in json.loads(getattr(node, 'workeroutput', {}).get('cemu_moodle_evidence', '[]')):
            RECORDER.cases[tuple(key)] = case
