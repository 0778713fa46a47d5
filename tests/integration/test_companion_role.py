# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real ansible-playbook runs role cemu.moodle.moodle_companion against a fake Moodle tree.

The tree (tests/integration/fake_moodle, see its README) has Moodle's layout:
4.x with everything in the code root; 5.1 with config.php in the code root and
admin/cli/ and every plugin under public/ ($CFG->dirroot). Its "database" is a
JSON file; its admin/cli/ doubles log each call, and its upgrade double installs
or upgrades core and every plugin found on disk, as Moodle does. The same
scenarios run on a real Moodle 4.5 and 5.1 in tests/live/test_companion_role_live.py.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.collection_path import REPO_ROOT
from tests.companion_role_runner import run_role

pytestmark = pytest.mark.skipif(shutil.which('php') is None, reason='php (php8.2-cli) is needed by the fake Moodle')

SHIPPED = os.path.join(REPO_ROOT, 'roles', 'moodle_companion', 'files', 'local_keepaccess')
SHIPPED_VERSION = '2026120200'
FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fake_moodle')
LOG = 'fake-invocations.log'
DB = 'fake-db.json'

CONFIG = """<?php
// Fake config.php: where the fake database and the call log are, then the (fake) bootstrap.
$CFG = new stdClass();
$CFG->fakedb = __DIR__ . '/%(db)s';
$CFG->fakelog = __DIR__ . '/%(log)s';
require_once(__DIR__ . '/%(dirroot)slib/setup.php');
"""

# Moodle 5.1's public/config.php, as shipped.
LOADER = """<?php
$configfile = __DIR__ . '/../config.php';
if (!file_exists($configfile)) {
    header("Location: install.php");
    die;
}
require_once($configfile);
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def plugin_version_php(component, version):
    return "<?php\ndefined('MOODLE_INTERNAL') || die();\n$plugin->component = '%s';\n$plugin->version = %s;\n" % (
        component, version)


class FakeMoodle:
    """A fake Moodle code root of generation '4.5' or '5.1', installed as its code is."""

    def __init__(self, root, layout, plugins=None):
        self.root = str(root)
        self.layout = layout
        self.dirroot = os.path.join(self.root, 'public') if layout == '5.1' else self.root
        shutil.copytree(os.path.join(FAKE, 'lib'), os.path.join(self.dirroot, 'lib'))
        shutil.copytree(os.path.join(FAKE, 'admin'), os.path.join(self.dirroot, 'admin'))
        write(os.path.join(self.root, 'config.php'),
              CONFIG % {'db': DB, 'log': LOG, 'dirroot': 'public/' if layout == '5.1' else ''})
        if layout == '5.1':
            write(os.path.join(self.dirroot, 'config.php'), LOADER)
        self.set_core_version('2025100603.00' if layout == '5.1' else '2024100700.00')
        for component, version in (plugins or {'local_other': 2025010100}).items():
            self.put_plugin(component, version)
        self.php('admin/cli/fake_install.php')

    def php(self, script):
        subprocess.run(['php', script], cwd=self.dirroot, check=True)

    def set_core_version(self, version):
        write(os.path.join(self.dirroot, 'version.php'),
              "<?php\ndefined('MOODLE_INTERNAL') || die();\n$version = %s;\n$release = '%s (fake)';\n" % (
                  version, self.layout))

    def put_plugin(self, component, version):
        write(os.path.join(self.plugin_dir(component), 'version.php'), plugin_version_php(component, version))

    def plugin_dir(self, component):
        plugintype, name = component.split('_', 1)
        return os.path.join(self.dirroot, plugintype, name)

    def db(self):
        with open(os.path.join(self.root, DB)) as handle:
            return json.load(handle)

    def set_db(self, **changes):
        state = self.db()
        state.update(changes)
        write(os.path.join(self.root, DB), json.dumps(state))

    def installed(self, component='local_keepaccess'):
        return self.db()['plugins'].get(component)

    def calls(self, script):
        path = os.path.join(self.root, LOG)
        if not os.path.exists(path):
            return []
        with open(path) as handle:
            return [line.strip() for line in handle if line.startswith(script + ' ')]

    def tree(self):
        """Every file under the code root but the call log, with its content: to prove nothing changed."""
        found = {}
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                path = os.path.join(folder, name)
                if name != LOG:
                    with open(path, 'rb') as handle:
                        found[os.path.relpath(path, self.root)] = handle.read()
        return found


def deploy(tmp_path, dirroot, expect_rc=0, **variables):
    options = {'moodle_companion_dirroot': dirroot, 'moodle_companion_php': shutil.which('php'),
               'moodle_companion_become': False}
    run = run_role(tmp_path / 'run', dict(options, **variables))
    assert run.returncode == expect_rc, run.output
    return run


def shipped_files():
    found = []
    for folder, _dirs, files in os.walk(SHIPPED):
        found += [os.path.relpath(os.path.join(folder, name), SHIPPED) for name in files]
    return sorted(found)


class Deployment:
    """A fake Moodle after two runs of the role, given the code root or (5.1) public/."""

    def __init__(self, tmp_path, layout, given):
        self.moodle = FakeMoodle(tmp_path / 'moodle', layout)
        self.given = self.moodle.root if given == 'code root' else self.moodle.dirroot
        self.first = deploy(tmp_path, self.given)
        self.upgrades_after_first = self.moodle.calls('upgrade.php')
        self.second = deploy(tmp_path, self.given)

    def copy(self, tmp_path):
        """An independent copy of the installed fake Moodle (its files hold only relative paths)."""
        moodle = FakeMoodle.__new__(FakeMoodle)
        moodle.root = str(tmp_path / 'moodle')
        moodle.layout = self.moodle.layout
        moodle.dirroot = os.path.join(moodle.root, 'public') if moodle.layout == '5.1' else moodle.root
        shutil.copytree(self.moodle.root, moodle.root, symlinks=True)
        return moodle


@pytest.fixture(scope='module')
def deployments(tmp_path_factory):
    """Deployment per (layout, directory given), made on first use and shared by the tests of this module."""
    made = {}

    def get(layout, given='code root'):
        if (layout, given) not in made:
            made[layout, given] = Deployment(tmp_path_factory.mktemp('moodle'), layout, given)
        return made[layout, given]
    return get


@pytest.fixture(params=[('4.5', 'code root'), ('5.1', 'code root'), ('5.1', 'public/')], ids='-'.join)
def deployed(request, deployments):
    return deployments(*request.param)


@pytest.fixture
def deployed_45(deployments):
    return deployments('4.5')


@pytest.fixture
def deployed_51(deployments):
    return deployments('5.1')


def xdist_group(item):
    """pytest-xdist group (tests/integration/conftest.py): the tests of one deployment on one worker, others apart."""
    callspec = getattr(item, 'callspec', None)
    if callspec is not None and 'deployed' in callspec.params:
        return '-'.join(callspec.params['deployed'])
    for fixture, layout in (('deployed_45', '4.5'), ('deployed_51', '5.1')):
        if fixture in item.fixturenames:
            return '%s-code root' % layout
    return item.name


def test_copies_every_plugin_file_into_the_folder_moodle_loads_plugins_from(deployed):
    plugin_dir = deployed.moodle.plugin_dir('local_keepaccess')
    for relative in shipped_files():
        with open(os.path.join(SHIPPED, relative), 'rb') as shipped, open(os.path.join(plugin_dir, relative), 'rb') as copied:
            assert copied.read() == shipped.read(), relative
    assert oct(os.stat(os.path.join(plugin_dir, 'version.php')).st_mode & 0o777) == '0o644'
    if deployed.moodle.layout == '5.1':
        assert not os.path.exists(os.path.join(deployed.moodle.root, 'local'))
        assert not os.path.exists(os.path.join(deployed.moodle.dirroot, 'public'))


def test_first_run_upgrades_moodle_once_and_installs_the_shipped_version(deployed):
    assert deployed.upgrades_after_first == ['upgrade.php --non-interactive']
    assert deployed.moodle.installed() == SHIPPED_VERSION
    assert deployed.first.changed >= 2 and deployed.first.failed == 0


def test_second_run_changes_nothing_and_does_not_upgrade(deployed):
    assert deployed.second.changed == 0 and deployed.second.failed == 0
    assert deployed.moodle.calls('upgrade.php') == deployed.upgrades_after_first
    assert deployed.moodle.calls('purge_caches.php') == []


def install_older_release(moodle, version):
    """Put an older local_keepaccess on disk and record it as installed, as a site running that release is."""
    version_file = os.path.join(moodle.plugin_dir('local_keepaccess'), 'version.php')
    with open(version_file) as handle:
        older = handle.read().replace(SHIPPED_VERSION, version)
    write(version_file, older)
    moodle.php('admin/cli/fake_install.php')


def test_upgrades_again_when_the_installed_version_differs_from_the_shipped_one(deployed_45, tmp_path):
    moodle = deployed_45.copy(tmp_path)
    install_older_release(moodle, '2026010100')
    shutil.copy(os.path.join(SHIPPED, 'version.php'), moodle.plugin_dir('local_keepaccess'))  # new code, not upgraded

    again = deploy(tmp_path, moodle.root)

    assert again.changed == 1
    assert len(moodle.calls('upgrade.php')) == 2
    assert moodle.installed() == SHIPPED_VERSION


def test_restores_an_edited_plugin_file_and_purges_caches_without_running_the_upgrade(deployed_45, tmp_path):
    moodle = deployed_45.copy(tmp_path)
    lang_file = os.path.join(moodle.plugin_dir('local_keepaccess'), 'lang', 'en', 'local_keepaccess.php')
    with open(lang_file, 'a') as handle:
        handle.write("$string['pluginname'] = 'Edited on the server';\n")
    moodle.set_core_version('2024100701.00')  # core code newer than installed: upgrade.php would upgrade core

    deploy(tmp_path, moodle.root)

    with open(lang_file) as edited, open(os.path.join(SHIPPED, 'lang', 'en', 'local_keepaccess.php')) as shipped:
        assert edited.read() == shipped.read()
    assert moodle.calls('purge_caches.php') == ['purge_caches.php']
    assert len(moodle.calls('upgrade.php')) == 1
    assert moodle.db()['version'] == '2024100700'


def test_removes_files_the_shipped_plugin_no_longer_has_and_puts_back_modes(deployed_45, tmp_path):
    moodle = deployed_45.copy(tmp_path)
    plugin_dir = moodle.plugin_dir('local_keepaccess')
    write(os.path.join(plugin_dir, 'classes', 'old', 'dropped.php'), '<?php\n// From an older release.\n')
    write(os.path.join(plugin_dir, 'dropped.php'), '<?php\n')
    os.chmod(os.path.join(plugin_dir, 'settings.php'), 0o600)

    again = deploy(tmp_path, moodle.root)

    assert not os.path.exists(os.path.join(plugin_dir, 'classes', 'old'))
    assert not os.path.exists(os.path.join(plugin_dir, 'dropped.php'))
    assert oct(os.stat(os.path.join(plugin_dir, 'settings.php')).st_mode & 0o777) == '0o644'
    installed = sorted(os.path.relpath(os.path.join(folder, name), plugin_dir)
                       for folder, _dirs, files in os.walk(plugin_dir) for name in files)
    assert installed == shipped_files()
    assert again.changed >= 1 and len(moodle.calls('upgrade.php')) == 1
    assert deploy(tmp_path, moodle.root).changed == 0


def test_restores_a_file_edited_without_changing_its_size_or_time(deployed_45, tmp_path):
    """A file edited on the server, keeping its size and time, is put back (tar compares contents)."""
    moodle = deployed_45.copy(tmp_path)
    settings = os.path.join(moodle.plugin_dir('local_keepaccess'), 'settings.php')
    stat = os.stat(settings)
    with open(settings, 'r+b') as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(b'#' if first != b'#' else b'<')
    os.utime(settings, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    deploy(tmp_path, moodle.root)

    with open(settings, 'rb') as restored, open(os.path.join(SHIPPED, 'settings.php'), 'rb') as shipped:
        assert restored.read() == shipped.read()


def test_check_mode_lists_a_stale_file_and_changes_nothing(deployed_45, tmp_path):
    moodle = deployed_45.copy(tmp_path)
    stale = os.path.join(moodle.plugin_dir('local_keepaccess'), 'dropped.php')
    write(stale, '<?php\n')
    before = moodle.tree()

    checked = run_role(tmp_path / 'run', {'moodle_companion_dirroot': moodle.root, 'moodle_companion_php': shutil.which('php'),
                                          'moodle_companion_become': False}, options=['--check'])

    assert checked.returncode == 0, checked.output
    assert checked.changed >= 1 and 'dropped.php' in checked.output
    assert moodle.tree() == before


def test_refuses_a_directory_that_is_neither_a_moodle_code_root_nor_public(tmp_path):
    moodle = FakeMoodle(tmp_path / 'moodle', '5.1')
    for not_moodle in [str(tmp_path / 'www'), os.path.join(moodle.dirroot, 'admin')]:
        os.makedirs(not_moodle, exist_ok=True)

        run = deploy(tmp_path, not_moodle, expect_rc=2)

        assert 'is not a Moodle directory' in run.output and not_moodle in run.output
        assert 'Set moodle_companion_dirroot to the directory holding' in run.output
        assert not os.path.exists(os.path.join(not_moodle, 'local'))


def test_a_51_code_root_without_config_php_fails_saying_moodle_did_not_answer(tmp_path):
    moodle = FakeMoodle(tmp_path / 'moodle', '5.1')
    os.unlink(os.path.join(moodle.root, 'config.php'))

    run = deploy(tmp_path, moodle.root, expect_rc=2)

    assert 'Could not ask Moodle in %s which upgrades are pending' % moodle.dirroot in run.output
    assert 'Is Moodle installed there, with its config.php?' in run.output
    assert not os.path.exists(moodle.plugin_dir('local_keepaccess'))


# Finding 5: upgrade.php applies every pending upgrade; the role must not upgrade the site as a side effect.

def assert_refused(run, moodle, before, *listed):
    assert 'Refuse to upgrade more than local_keepaccess' in run.output
    assert 'Nothing was changed' in run.output and 'moodle_companion_allow_other_upgrades' in run.output
    for text in listed:
        assert text in run.output
    assert moodle.calls('upgrade.php') == before['upgrades']
    assert moodle.tree() == before['tree']


def state(moodle):
    return {'tree': moodle.tree(), 'upgrades': moodle.calls('upgrade.php')}


def test_refuses_to_install_when_a_core_upgrade_is_pending_and_changes_nothing(tmp_path):
    moodle = FakeMoodle(tmp_path / 'moodle', '5.1')
    moodle.set_core_version('2025100700.00')
    before = state(moodle)

    run = deploy(tmp_path, moodle.root, expect_rc=2)

    assert_refused(run, moodle, before, 'core: upgrade from 2025100603 (5.1 (fake)) to 2025100700')
    assert not os.path.exists(moodle.plugin_dir('local_keepaccess'))


def test_refusal_lists_new_and_missing_plugins(tmp_path):
    moodle = FakeMoodle(tmp_path / 'moodle', '4.5')
    moodle.put_plugin('local_dummy', 2026010100)
    shutil.rmtree(moodle.plugin_dir('local_other'))
    before = state(moodle)

    run = deploy(tmp_path, moodle.root, expect_rc=2)

    assert_refused(run, moodle, before, 'local_dummy: new (installed -, on disk 2026010100)',
                   'local_other: missing from disk (installed 2025010100, on disk -)')


def test_refuses_to_upgrade_the_plugin_when_another_plugin_upgrade_is_pending_and_keeps_the_old_files(deployed_45, tmp_path):
    moodle = deployed_45.copy(tmp_path)
    install_older_release(moodle, '2026010100')
    moodle.put_plugin('local_other', 2026020200)  # someone's newer code for another plugin, not yet upgraded
    before = state(moodle)

    run = deploy(tmp_path, moodle.root, expect_rc=2)

    assert_refused(run, moodle, before, 'local_other: upgrade (installed 2025010100, on disk 2026020200)',
                   'Installing local_keepaccess %s' % SHIPPED_VERSION)
    assert moodle.installed() == '2026010100'


def test_check_mode_reports_the_refusal_too(tmp_path):
    moodle = FakeMoodle(tmp_path / 'moodle', '4.5')
    moodle.set_core_version('2024100701.00')
    before = state(moodle)

    run = run_role(tmp_path / 'run', {'moodle_companion_dirroot': moodle.root, 'moodle_companion_php': shutil.which('php'),
                                      'moodle_companion_become': False}, options=['--check'])

    assert run.returncode == 2, run.output
    assert_refused(run, moodle, before, 'core: upgrade from ')


def test_with_allow_other_upgrades_the_upgrade_applies_everything_pending(tmp_path):
    moodle = FakeMoodle(tmp_path / 'moodle', '5.1')
    moodle.set_core_version('2025100604.00')
    moodle.put_plugin('local_dummy', 2026010100)

    run = deploy(tmp_path, moodle.root, moodle_companion_allow_other_upgrades=True)

    assert run.changed >= 2 and run.failed == 0
    assert moodle.calls('upgrade.php') == ['upgrade.php --non-interactive']
    assert moodle.installed() == SHIPPED_VERSION
    assert moodle.installed('local_dummy') == '2026010100' and moodle.db()['version'] == '2025100604'


def test_a_plugin_missing_from_disk_before_the_last_upgrade_does_not_block(tmp_path):
    moodle = FakeMoodle(tmp_path / 'moodle', '5.1')
    shutil.rmtree(moodle.plugin_dir('local_other'))
    moodle.php('admin/cli/fake_install.php')  # upgraded since: Moodle keeps it as "missing from disk", nothing pending

    run = deploy(tmp_path, moodle.root)

    assert run.failed == 0 and moodle.installed() == SHIPPED_VERSION
    assert moodle.installed('local_other') == '2025010100'


def test_an_up_to_date_plugin_is_not_refused_when_other_upgrades_are_pending(deployed_51, tmp_path):
    moodle = deployed_51.copy(tmp_path)
    moodle.put_plugin('local_dummy', 2026010100)

    again = deploy(tmp_path, moodle.root)

    assert again.changed == 0 and again.failed == 0, again.output
    assert len(moodle.calls('upgrade.php')) == 1 and moodle.installed('local_dummy') is None
