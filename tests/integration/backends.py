# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small interface over the two Moodles the integration tests can run against.

- ``simulator``: the project's Moodle simulator on the ``recorded`` fixture (the
  live fixture's courses KA1-KA4 and BIG1, ids as on the recorded site), started
  in this process, reached over real HTTP with the least-privileged service
  user's token, as on a real site.
- ``live``: a real Moodle holding the live fixture (tests/live/README.md),
  configured by MOODLE_URL, MOODLE_TOKEN and MOODLE_LIVE_DIR (plus
  MOODLE_LIVE_PHP, and MOODLE_LIVE_PSQL for the welcome-message count);
  everything about the site comes from tests/live/live_backend.py.

Both read a course the same way, through ``local_keepaccess_get_course_enrolments``
over HTTP with the collection's own client, so a test's assertions are the same
for both. The token never leaves the backend: playbooks get it through an
environment variable the module options look up (see ``connection``).
"""

import os

import pytest

from tests.live.live_backend import LiveConfigMissing, LiveSite, manual_by_user
from tests.simulator import Simulator

BACKENDS = ('simulator', 'live')
TOKEN_VARIABLE = 'CEMU_MOODLE_BACKEND_TOKEN'     # read by the playbooks; module_runner drops MOODLE_TOKEN
SIMULATOR_TOKEN = 'backend-chain-service-token-7d2a'


class Backend:
    """A Moodle holding the live fixture: its site, reads over HTTP, and the source system's controls."""

    name = None

    def __init__(self, site):
        self.site = site            # a LiveSite: the web-service reads, the same code on both backends
        os.environ[TOKEN_VARIABLE] = site.token

    @property
    def url(self):
        return self.site.url

    @property
    def token(self):
        return self.site.token

    def connection(self):
        """Module options reaching this Moodle; the token is looked up from the environment at run time."""
        return {'moodle_url': self.url, 'validate_certs': self.site.validate_certs,
                'moodle_token': "{{ lookup('ansible.builtin.env', '%s') }}" % TOKEN_VARIABLE}

    def course_id(self, shortname):
        return self.site.course(shortname)['id']

    def course_state(self, shortname):
        """local_keepaccess_get_course_enrolments of the course, all pages merged."""
        return self.site.enrolments(shortname)

    def manual_enrolments(self, shortname):
        """{userid: user enrolment} in the course's first manual instance."""
        return manual_by_user(self.course_state(shortname))

    def reset_fixture(self):
        raise NotImplementedError

    def drop_source(self, courses):
        """1 September: the database source and the cohorts drop every user of ``courses``, the syncs run."""
        raise NotImplementedError

    def welcome_count(self):
        """How many course welcome messages the site has stored; None when this backend cannot tell."""
        raise NotImplementedError

    def close(self):
        os.environ.pop(TOKEN_VARIABLE, None)


class SimulatorBackend(Backend):
    name = 'simulator'

    def __init__(self):
        self.simulator = Simulator(version='4.5', fixture='recorded').start()
        super().__init__(LiveSite(self.simulator.url, SIMULATOR_TOKEN))
        self._add_service_token()

    def _add_service_token(self):
        self.simulator.add_service_token(SIMULATOR_TOKEN)

    def reset_fixture(self):
        self.simulator.reset('recorded')
        self._add_service_token()

    def drop_source(self, courses):
        for shortname in courses:
            courseid = self.course_id(shortname)
            for method in ('database', 'cohort'):
                self.simulator.drop_from_source(courseid, method)

    def welcome_count(self):
        return len(self.simulator.messages())

    def close(self):
        super().close()
        self.simulator.stop()


class LiveBackend(Backend):
    name = 'live'

    def reset_fixture(self):
        self.site.build_fixture()

    def drop_source(self, courses):
        self.site.drop_source(list(courses))

    def welcome_count(self):
        return self.site.welcome_messages() if self.site.has_sql else None


def open_backend(name):
    """The backend called ``name``; skips the test (saying what to set) when the real Moodle is not configured."""
    if name == 'simulator':
        return SimulatorBackend()
    try:
        return LiveBackend(LiveSite.from_environment(need_scripts=True))
    except LiveConfigMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope='module', params=BACKENDS)
def moodle_backend(request):
    """The simulator, then the real Moodle of MOODLE_URL / MOODLE_TOKEN / MOODLE_LIVE_DIR (skipped without)."""
    backend = open_backend(request.param)
    yield backend
    backend.close()
