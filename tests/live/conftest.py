# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live tests run only against a configured real Moodle; without one every test is skipped, saying why."""

import pytest

from tests.live.live_backend import EVIDENCE, LiveConfigMissing, LiveSite


# Modules that need no fixture site and skip on their own variables (see each module).
OWN_CONFIGURATION = ('test_companion_role_live.py',)


def pytest_collection_modifyitems(config, items):
    try:
        LiveSite.from_environment(need_scripts=True)
    except LiveConfigMissing as missing:
        skip = pytest.mark.skip(reason=str(missing))
        for item in items:
            nodeid = item.nodeid.replace('\\', '/')
            if 'tests/live/' in nodeid and nodeid.split('::')[0].rsplit('/', 1)[-1] not in OWN_CONFIGURATION:
                item.add_marker(skip)


@pytest.fixture(scope='session')
def live():
    """The configured real Moodle (a LiveSite)."""
    return LiveSite.from_environment(need_scripts=True)


@pytest.fixture(scope='session')
def live_sql(live):
    """The live site, for checks that read Moodle's tables; skipped without MOODLE_LIVE_PSQL."""
    if not live.has_sql:
        pytest.skip('MOODLE_LIVE_PSQL is not set: this check reads Moodle tables directly')
    return live


def pytest_terminal_summary(terminalreporter):
    if EVIDENCE:
        terminalreporter.section('cemu.moodle live run against a real Moodle')
        for line in EVIDENCE:
            terminalreporter.write_line(line)
