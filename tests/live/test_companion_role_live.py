# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role cemu.moodle.moodle_companion on a real, DISPOSABLE Moodle (4.5 or 5.1), with the real ansible-playbook.

The role runs on this machine (connection local, become_user the web server user)
against the Moodle whose code root (the directory holding config.php) is
``MOODLE_COMPANION_LIVE_DIR``. The test changes that Moodle: it uninstalls
local_keepaccess if present (Moodle's admin/cli/uninstall_plugins.php), puts a
newer core version.php and a dummy local plugin in place for a while, installs
an older release of the plugin, lets the role upgrade the whole site once
(``moodle_companion_allow_other_upgrades``) and uninstalls the dummy plugin
afterwards. Never point it at a site others use.

Variables:

- ``MOODLE_COMPANION_LIVE_DIR`` (required): the code root. On Moodle 5.1+ the
  role is also run with its ``public/``.
- ``MOODLE_COMPANION_LIVE_URL`` (optional): the site URL; the token the role
  creates is then tried over REST (``core_webservice_get_site_info``).
- ``MOODLE_COMPANION_LIVE_WEB_USER`` (default ``www-data``): the web server user;
  the test runs as root (it becomes that user, and writes the code tree).
"""

import json
import os
import re
import shutil
import subprocess
import pytest
import requests

from tests.collection_path import REPO_ROOT
from tests.companion_role_runner import run_role
from tests.live.live_backend import record

LIVE_DIR = os.environ.get('MOODLE_COMPANION_LIVE_DIR')
LIVE_URL = os.environ.get('MOODLE_COMPANION_LIVE_URL')
WEB_USER = os.environ.get('MOODLE_COMPANION_LIVE_WEB_USER', 'www-data')
SHIPPED = os.path.join(REPO_ROOT, 'roles', 'moodle_companion', 'files', 'local_keepaccess')
PENDING_SCRIPT = os.path.join(SHIPPED, 'cli', 'pending_upgrades.php')
OLDER_RELEASE = '2026112800'

pytestmark = [
    pytest.mark.skipif(not LIVE_DIR, reason='no disposable Moodle: set MOODLE_COMPANION_LIVE_DIR (see this file)'),
    pytest.mark.skipif(os.geteuid() != 0, reason='runs as root: it becomes the web server user and edits the code tree'),
]


def shipped_version():
    with open(os.path.join(SHIPPED, 'version.php')) as handle:
        return re.search(r'\$plugin->version\s*=\s*(\d+)', handle.read()).group(1)


class Site:
    """The disposable Moodle: its layout, Moodle's CLI as the web server user, and the role."""

    def __init__(self, code_root):
        self.code_root = code_root.rstrip('/')
        public = os.path.join(self.code_root, 'public')
        self.dirroot = public if os.path.isfile(os.path.join(public, 'admin', 'cli', 'upgrade.php')) else self.code_root
        self.plugin_dir = os.path.join(self.dirroot, 'local', 'keepaccess')
        self.dummy_dir = os.path.join(self.dirroot, 'local', 'cemudummy')

    @property
    def is_51(self):
        return self.dirroot != self.code_root

    def php(self, *args, stdin=None, check=True):
        result = subprocess.run(['runuser', '-u', WEB_USER, '--', 'php'] + list(args), cwd=self.dirroot, input=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900, check=False)
        if check and result.returncode != 0:
            raise AssertionError('php %s: exit %d\n%s\n%s' % (' '.join(args), result.returncode, result.stdout, result.stderr))
        return result

    def config(self, name, component=None):
        """A setting through admin/cli/cfg.php; None when unset."""
        args = ['admin/cli/cfg.php', '--name=' + name] + (['--component=' + component] if component else [])
        result = self.php(*args, check=False)
        assert result.returncode in (0, 3), result.stderr
        return result.stdout.strip() if result.returncode == 0 else None

    def installed(self, component='local_keepaccess'):
        return self.config('version', component)

    def fingerprint(self):
        """What any upgrade changes: core's and the plugins' installed versions and the versions hash."""
        return {'core': self.config('version'), 'release': self.config('release'),
                'allversionshash': self.config('allversionshash'), 'local_keepaccess': self.installed(),
                'local_cemudummy': self.installed('local_cemudummy'), 'plugin_files': self.plugin_files()}

    def plugin_files(self):
        if not os.path.isdir(self.plugin_dir):
            return None
        with open(os.path.join(self.plugin_dir, 'version.php')) as handle:
            return handle.read()

    def pending(self):
        """The plugin's pending_upgrades.php piped to PHP, as the role does: (exit status, report)."""
        with open(PENDING_SCRIPT) as handle:
            result = self.php('--', '--json', stdin=handle.read(), check=False)
        return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])

    def upgrade(self):
        return self.php('admin/cli/upgrade.php', '--non-interactive')

    def uninstall(self, component, folder):
        """Moodle's way: uninstall_plugins.php, remove the folder, upgrade.php to record the versions again."""
        if self.installed(component) is not None:
            self.php('admin/cli/uninstall_plugins.php', '--plugins=' + component, '--run')
        shutil.rmtree(folder, ignore_errors=True)
        if self.pending()[1]['others_pending']:
            self.upgrade()

    def put_dummy_plugin(self, version='2026010100'):
        os.makedirs(os.path.join(self.dummy_dir, 'lang', 'en'), exist_ok=True)
        with open(os.path.join(self.dummy_dir, 'version.php'), 'w') as handle:
            handle.write("<?php\ndefined('MOODLE_INTERNAL') || die();\n$plugin->component = 'local_cemudummy';\n"
                         "$plugin->version = %s;\n$plugin->requires = 2022112800;\n" % version)
        with open(os.path.join(self.dummy_dir, 'lang', 'en', 'local_cemudummy.php'), 'w') as handle:
            handle.write("<?php\n$string['pluginname'] = 'cemu.moodle test dummy';\n")

    def install_older_release(self):
        """local_keepaccess as an earlier release would have left it: older version.php, installed by upgrade.php."""
        shutil.copytree(SHIPPED, self.plugin_dir)
        version_file = os.path.join(self.plugin_dir, 'version.php')
        with open(version_file) as handle:
            older = handle.read().replace(shipped_version(), OLDER_RELEASE)
        with open(version_file, 'w') as handle:
            handle.write(older)
        self.upgrade()

    def role(self, work_dir, given=None, **variables):
        variables = dict({'moodle_companion_dirroot': given or self.code_root, 'moodle_companion_web_user': WEB_USER},
                         **variables)
        run = run_role(work_dir, variables)
        record('%s role run (dirroot %s, %s): exit %d, %s' % (
            self.label, variables['moodle_companion_dirroot'],
            ', '.join('%s=%s' % (k[len('moodle_companion_'):], v) for k, v in sorted(variables.items())
                      if k not in ('moodle_companion_dirroot', 'moodle_companion_web_user')) or 'defaults',
            run.returncode, run.counts))
        return run

    @property
    def label(self):
        return 'Moodle %s' % self.config('release')


class BumpedCoreVersion:
    """Core's version.php a step ahead of the installed version, as new code not upgraded yet; put back on exit."""

    def __init__(self, site):
        self.path = os.path.join(site.dirroot, 'version.php')

    def __enter__(self):
        with open(self.path, 'rb') as handle:
            self.original = handle.read()
        text = self.original.decode()
        bumped, count = re.subn(r'^(\$version\s*=\s*)(\d+)\.(\d\d)', lambda m: '%s%s.%02d' % (
            m.group(1), m.group(2), int(m.group(3)) + 1), text, count=1, flags=re.M)
        assert count == 1
        with open(self.path, 'w') as handle:
            handle.write(bumped)
        return self

    def __exit__(self, *exc):
        with open(self.path, 'wb') as handle:
            handle.write(self.original)


def site_info(token):
    data = {'wstoken': token, 'moodlewsrestformat': 'json', 'wsfunction': 'core_webservice_get_site_info'}
    answer = requests.post(LIVE_URL.rstrip('/') + '/webservice/rest/server.php', data=data, timeout=60)
    answer.raise_for_status()
    return answer.json()


def assert_refused(run, site, before, listed):
    assert run.returncode == 2, run.output
    assert 'Refuse to upgrade more than local_keepaccess' in run.output and 'Nothing was changed' in run.output
    assert listed in run.output, run.output
    assert site.fingerprint() == before
    record('  refusal: ' + next(line.strip() for line in run.output.splitlines() if 'Installing local_keepaccess' in line))


@pytest.fixture(scope='module')
def site():
    site = Site(LIVE_DIR)
    site.uninstall('local_cemudummy', site.dummy_dir)
    site.uninstall('local_keepaccess', site.plugin_dir)
    status, report = site.pending()
    assert status == 0 and not report['others_pending'], 'the disposable Moodle has upgrades pending: %s' % report
    record('%s, code root %s, $CFG->dirroot %s' % (site.label, site.code_root, site.dirroot))
    yield site
    site.uninstall('local_cemudummy', site.dummy_dir)


def test_refuses_while_a_core_upgrade_is_pending_and_leaves_moodle_as_it_was(site, tmp_path):
    with BumpedCoreVersion(site):
        before = site.fingerprint()
        run = site.role(tmp_path)
    assert_refused(run, site, before, 'core: upgrade from %s' % before['core'])
    assert not os.path.exists(site.plugin_dir)


def test_refuses_while_another_plugin_is_new_on_disk_and_leaves_moodle_as_it_was(site, tmp_path):
    site.put_dummy_plugin()
    try:
        before = site.fingerprint()
        run = site.role(tmp_path)
    finally:
        shutil.rmtree(site.dummy_dir)
    assert_refused(run, site, before, 'local_cemudummy: new (installed -, on disk 2026010100)')
    assert not os.path.exists(site.plugin_dir)


def test_first_run_installs_the_plugin_and_creates_a_working_token(site, tmp_path):
    run = site.role(tmp_path, moodle_companion_create_token=True, moodle_companion_enable_webservices=True)

    assert run.returncode == 0 and run.failed == 0, run.output
    assert run.changed >= 3  # files, upgrade, service user
    assert site.installed() == shipped_version()
    assert os.path.isfile(os.path.join(site.plugin_dir, 'cli', 'pending_upgrades.php'))
    assert run.token and re.fullmatch(r'[0-9a-f]{32}', run.token)
    record('%s: local_keepaccess %s installed in %s; token created (%d characters)' % (
        site.label, site.installed(), site.plugin_dir, len(run.token)))
    if LIVE_URL:
        info = site_info(run.token)
        functions = {f['name'] for f in info.get('functions', [])}
        assert info.get('username') == 'keepaccess_ws', info
        assert 'local_keepaccess_get_course_enrolments' in functions
        record('%s: the token answers core_webservice_get_site_info as %s with %d functions' % (
            site.label, info['username'], len(functions)))


def test_second_run_changes_nothing(site, tmp_path):
    run = site.role(tmp_path, moodle_companion_create_token=True, moodle_companion_enable_webservices=True)

    assert run.returncode == 0 and run.changed == 0 and run.failed == 0, run.output
    assert run.token


def test_public_dir_of_moodle_51_is_accepted_too(site, tmp_path):
    if not site.is_51:
        pytest.skip('Moodle before 5.1 has no public/')
    run = site.role(tmp_path, given=site.dirroot, moodle_companion_create_token=True)

    assert run.returncode == 0 and run.changed == 0 and run.failed == 0, run.output


def test_an_up_to_date_plugin_runs_no_upgrade_while_another_is_pending(site, tmp_path):
    site.put_dummy_plugin()
    try:
        run = site.role(tmp_path)
        dummy = site.installed('local_cemudummy')
    finally:
        shutil.rmtree(site.dummy_dir)

    assert run.returncode == 0 and run.changed == 0, run.output
    assert dummy is None


def test_redeploy_refuses_to_upgrade_the_plugin_while_another_plugin_is_new_then_upgrades_all_when_allowed(site, tmp_path):
    site.uninstall('local_keepaccess', site.plugin_dir)
    site.install_older_release()
    assert site.installed() == OLDER_RELEASE
    site.put_dummy_plugin()
    before = site.fingerprint()

    refused = site.role(tmp_path)

    assert_refused(refused, site, before, 'local_cemudummy: new (installed -, on disk 2026010100)')
    assert OLDER_RELEASE in site.plugin_files()

    allowed = site.role(tmp_path, moodle_companion_allow_other_upgrades=True)

    assert allowed.returncode == 0 and allowed.failed == 0 and allowed.changed >= 2, allowed.output
    assert site.installed() == shipped_version() and site.installed('local_cemudummy') == '2026010100'
    record('%s: refused with local_cemudummy new (Moodle unchanged); allowed: local_keepaccess %s -> %s and '
           'local_cemudummy installed' % (site.label, OLDER_RELEASE, site.installed()))
