# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests: the evidence recorder and the figures printed at the end of the suite."""

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
