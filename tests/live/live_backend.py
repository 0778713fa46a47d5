# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real Moodle the live tests and the real-Moodle benchmark run against.

Everything comes from the environment (never from a file in the repository):

- ``MOODLE_URL``, ``MOODLE_TOKEN``: the site and a token of the ``keep_access``
  service (the same variables as the modules).
- ``MOODLE_LIVE_DIR``: the Moodle directory holding ``config.php``, for the
  fixture scripts ``build_fixture.php`` / ``drop_source.php``.
- ``MOODLE_LIVE_PHP``: how to run PHP as the web server's user, e.g.
  ``runuser -u www-data -- php`` (default ``php``).
- ``MOODLE_LIVE_PSQL`` (optional): a psql command reaching Moodle's database,
  e.g. ``runuser -u postgres -- psql -d moodle45``; ``MOODLE_LIVE_DBPREFIX``
  (default ``mdl_``). Needed only by the checks that read tables directly.

The token is never printed: it lives in ``LiveSite.token`` and in the 0600
files the playbook runs read.
"""

import json
import os
import shlex
import subprocess

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi
from tests.collection_path import REPO_ROOT

LIVE_DIR = os.path.join(REPO_ROOT, 'tests', 'live')
FIXTURE_COURSES = ('KA1', 'KA2', 'KA3', 'KA4', 'BIG1')
WELCOME_EVENT = 'enrolcoursewelcomemessage'
EVIDENCE = []     # lines printed at the end of a live pytest run (tests/live/conftest.py)


def record(line):
    """Keep a line of evidence (counts, timings) for the end of the run; never pass the token."""
    EVIDENCE.append(line)


class LiveConfigMissing(Exception):
    """The environment does not describe a live Moodle; the message says what to set."""


class LiveSite:
    """A configured real Moodle: web-service API, fixture scripts, optional SQL."""

    def __init__(self, url, token, moodle_dir=None, php=None, psql=None, dbprefix='mdl_',
                 validate_certs=True):
        self.url = url.rstrip('/')
        self.token = token
        self.moodle_dir = moodle_dir
        self.php = shlex.split(php or 'php')
        self.psql = shlex.split(psql) if psql else None
        self.dbprefix = dbprefix
        self.validate_certs = validate_certs
        self._api = None

    @classmethod
    def from_environment(cls, need_scripts=True):
        env = os.environ
        missing = [name for name in ('MOODLE_URL', 'MOODLE_TOKEN') if not env.get(name)]
        if need_scripts and not env.get('MOODLE_LIVE_DIR'):
            missing.append('MOODLE_LIVE_DIR')
        if missing:
            raise LiveConfigMissing(
                'no real Moodle configured: set %s (see tests/live/README.md)' % ', '.join(missing))
        return cls(env['MOODLE_URL'], env['MOODLE_TOKEN'], env.get('MOODLE_LIVE_DIR'),
                   env.get('MOODLE_LIVE_PHP'), env.get('MOODLE_LIVE_PSQL'),
                   env.get('MOODLE_LIVE_DBPREFIX', 'mdl_'),
                   env.get('MOODLE_VALIDATE_CERTS', 'true').lower() not in ('0', 'false', 'no'))

    def __repr__(self):
        return 'LiveSite(%r)' % self.url

    # -- web services (the collection's own client) --

    def client(self, **options):
        return MoodleClient(self.url, self.token, validate_certs=self.validate_certs, **options)

    @property
    def api(self):
        if self._api is None:
            self._api = KeepAccessApi(self.client())
        return self._api

    def course(self, shortname):
        return self.api.find_course(shortname, by='shortname')

    def enrolments(self, shortname):
        """local_keepaccess_get_course_enrolments of the course, all pages merged."""
        return self.api.read_course_enrolments(self.course(shortname)['id'])

    def connection(self):
        """Module options reaching this site."""
        return {'moodle_url': self.url, 'moodle_token': self.token, 'validate_certs': self.validate_certs}

    # -- fixture scripts --

    def build_fixture(self, big=None):
        """Build or reset the fixture; return the script's JSON summary."""
        return self._fixture_script('build_fixture.php', ['--big=%d' % big] if big is not None else [])

    def drop_source(self, courses=None):
        """The source drops every user of ``courses`` (default all), then the syncs run; JSON summary."""
        return self._fixture_script('drop_source.php', ['--courses=' + ','.join(courses)] if courses else [])

    def _fixture_script(self, script, arguments):
        if not self.moodle_dir:
            raise LiveConfigMissing('MOODLE_LIVE_DIR is not set: the fixture scripts need the Moodle directory')
        command = self.php + [os.path.join(LIVE_DIR, script), '--moodle=' + self.moodle_dir] + arguments
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   timeout=900, check=False, cwd=LIVE_DIR)
        if completed.returncode != 0:
            raise AssertionError('%s failed (rc %d): %s' % (script, completed.returncode,
                                                            (completed.stderr or completed.stdout)[-3000:]))
        return json.loads(completed.stdout)

    # -- SQL (read only) --

    @property
    def has_sql(self):
        return self.psql is not None

    def sql(self, query, *params):
        """Rows of a read-only query as lists of strings. ``{p}`` in ``query`` is the table prefix;
        ``params`` are integers only (formatted in as %d)."""
        if not self.psql:
            raise LiveConfigMissing('MOODLE_LIVE_PSQL is not set: this check reads Moodle tables directly')
        text = query.replace('{p}', self.dbprefix) % tuple(int(value) for value in params)
        completed = subprocess.run(self.psql + ['-X', '-q', '-A', '-t', '-F', '\t', '-c', text],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                                   check=False, cwd='/')
        if completed.returncode != 0:
            raise AssertionError('psql failed: %s' % completed.stderr[-2000:])
        return [line.split('\t') for line in completed.stdout.splitlines() if line]

    def sql_write(self, statement):
        """Run one statement that sets up a live test (``{p}`` is the table prefix); the caller puts back what it changed."""
        if not self.psql:
            raise LiveConfigMissing('MOODLE_LIVE_PSQL is not set: this check changes Moodle tables directly')
        completed = subprocess.run(self.psql + ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
                                                statement.replace('{p}', self.dbprefix)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                                   check=False, cwd='/')
        if completed.returncode != 0:
            raise AssertionError('psql failed: %s' % completed.stderr[-2000:])

    def sql_value(self, query, *params):
        rows = self.sql(query, *params)
        return int(rows[0][0]) if rows else None

    def welcome_messages(self):
        """How many course welcome messages Moodle has stored (mdl_notifications)."""
        return self.sql_value("SELECT COUNT(*) FROM {p}notifications WHERE eventtype = '%s'" % WELCOME_EVENT)


def manual_instances(enrolments):
    return [i for i in enrolments['instances'] if i['enrol'] == 'manual']


def manual_by_user(enrolments):
    """{userid: user enrolment} in the course's first manual instance (the one the collection writes)."""
    instances = manual_instances(enrolments)
    if not instances:
        return {}
    first = instances[0]['id']
    return dict((ue['userid'], ue) for ue in enrolments['userenrolments'] if ue['enrolid'] == first)


def automatic_users(enrolments, methods=('database', 'cohort')):
    """{userid: username} of users holding an enrolment of ``methods``."""
    return dict((ue['userid'], ue['username']) for ue in enrolments['userenrolments'] if ue['enrol'] in methods)


def roles_by_user(enrolments, component=None):
    """{userid: set of role shortnames}, only assignments of ``component`` when given ('' = manual)."""
    roles = {}
    for ra in enrolments['roleassignments']:
        if component is None or ra['component'] == component:
            roles.setdefault(ra['userid'], set()).add(ra['roleshortname'])
    return roles


def automatic_roles(enrolments):
    """{userid: set of role shortnames} held through enrol_* components (what a restore copies)."""
    roles = {}
    for ra in enrolments['roleassignments']:
        if ra['component'].startswith('enrol_'):
            roles.setdefault(ra['userid'], set()).add(ra['roleshortname'])
    return roles


def snapshot(enrolments):
    """What a run could change in a course: user enrolments, role assignments, instances (ids included)."""
    return {
        'instances': sorted(json.dumps(i, sort_keys=True) for i in enrolments['instances']),
        'userenrolments': sorted(json.dumps(ue, sort_keys=True) for ue in enrolments['userenrolments']),
        'roleassignments': sorted(json.dumps(ra, sort_keys=True) for ra in enrolments['roleassignments']),
    }
