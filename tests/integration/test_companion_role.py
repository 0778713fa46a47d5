# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real ansible-playbook runs role cemu.moodle.moodle_companion against a fake Moodle tree.

The tree has Moodle's layout (4.x: plugins at the root; 5.1+: under public/)
and tiny PHP test doubles of admin/cli/cfg.php, upgrade.php and
purge_caches.php that log each call. The upgrade double "installs" the plugin
the way Moodle finds it: it loads local/keepaccess/version.php from the folder
of that Moodle generation and records its version, so a plugin copied to the
wrong folder fails the upgrade.
"""

import os
import shutil
import subprocess
import sys

import pytest

from tests.collection_path import REPO_ROOT
from tests.demo.runner import ansible_env, recap

pytestmark = pytest.mark.skipif(shutil.which('php') is None, reason='php (php8.2-cli) is needed by the Moodle test doubles')

SHIPPED = os.path.join(REPO_ROOT, 'roles', 'moodle_companion', 'files', 'local_keepaccess')
SHIPPED_VERSION = '2026120110'
LOG = 'fake-invocations.log'
STATE = 'fake-installed-version'

LOG_CALL = """<?php
// Test double of Moodle's admin/cli/%(name)s.
$root = dirname(__DIR__, 2);
file_put_contents("$root/%(log)s", '%(name)s ' . implode(' ', array_slice($argv, 1)) . "\\n", FILE_APPEND);
"""

CFG_BODY = """if (array_slice($argv, 1) !== ['--component=local_keepaccess', '--name=version']) {
    fwrite(STDERR, "unexpected arguments\\n");
    exit(2);
}
if (!file_exists("$root/%(state)s")) {
    exit(3);  // Like Moodle: the setting does not exist.
}
echo file_get_contents("$root/%(state)s"), "\\n";
"""

UPGRADE_BODY = """if (!in_array('--non-interactive', $argv, true)) {
    fwrite(STDERR, "would wait for input\\n");
    exit(1);
}
define('MOODLE_INTERNAL', true);
define('MATURITY_STABLE', 200);
$plugin = new stdClass();
require((is_dir("$root/public") ? "$root/public" : $root) . '/local/keepaccess/version.php');
file_put_contents("$root/%(state)s", $plugin->version);
"""

PLAYBOOK = """- name: Deploy the companion plugin onto the fake Moodle
  hosts: moodle
  gather_facts: false
  roles:
    - role: cemu.moodle.moodle_companion
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def fake_moodle(root, layout):
    """A Moodle code root of the given generation ('4.5' or '5.1') with CLI test doubles."""
    params = {'log': LOG, 'state': STATE}
    write(os.path.join(root, 'config.php'), '<?php\n// Fake config.\n')
    write(os.path.join(root, 'version.php'), "<?php\n$release = '%s (fake)';\n" % layout)
    for name, body in [('cfg.php', CFG_BODY), ('upgrade.php', UPGRADE_BODY), ('purge_caches.php', '')]:
        write(os.path.join(root, 'admin', 'cli', name), LOG_CALL % dict(params, name=name) + body % params)
    if layout == '5.1':
        write(os.path.join(root, 'public', 'index.php'), '<?php\n')
    return root


def run_role(tmp_path, dirroot, expect_rc=0):
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('[moodle]\nfakehost ansible_connection=local\n')
    playbook = tmp_path / 'companion.yml'
    playbook.write_text(PLAYBOOK)
    extra = ['-e', 'moodle_companion_dirroot=%s' % dirroot, '-e', 'moodle_companion_php=%s' % shutil.which('php'),
             '-e', 'moodle_companion_become=false']
    result = subprocess.run([sys.executable, '-m', 'ansible.cli.playbook', '-i', str(inventory), str(playbook)] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ansible_env({'ANSIBLE_INVENTORY_ENABLED': 'ini'}),
                            timeout=300, check=False)
    assert result.returncode == expect_rc, result.stdout
    return result.stdout


def calls(root, name):
    path = os.path.join(root, LOG)
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [line.strip() for line in handle if line.startswith(name + ' ')]


def installed_version(root):
    with open(os.path.join(root, STATE)) as handle:
        return handle.read().strip()


def shipped_files():
    found = []
    for folder, _dirs, files in os.walk(SHIPPED):
        found += [os.path.relpath(os.path.join(folder, name), SHIPPED) for name in files]
    return sorted(found)


class Deployment:
    """A fake Moodle after two runs of the role: the first run's and the second run's recap."""

    def __init__(self, tmp_path, layout):
        self.tmp_path = tmp_path
        self.root = fake_moodle(str(tmp_path / 'moodle'), layout)
        self.first = recap(run_role(tmp_path, self.root))['fakehost']
        self.upgrades_after_first = calls(self.root, 'upgrade.php')
        self.second = recap(run_role(tmp_path, self.root))['fakehost']

    def copy(self, tmp_path):
        """An independent copy of the installed tree, for tests that change it."""
        root = str(tmp_path / 'moodle')
        shutil.copytree(self.root, root, symlinks=True)
        return root


@pytest.fixture(scope='module')
def deployments(tmp_path_factory):
    """Deployment per layout, made on first use and shared by the tests of this module."""
    made = {}

    def get(layout):
        if layout not in made:
            made[layout] = Deployment(tmp_path_factory.mktemp('moodle' + layout.replace('.', '')), layout)
        return made[layout]
    return get


@pytest.fixture(params=['4.5', '5.1'])
def deployed(request, deployments):
    return deployments(request.param)


@pytest.fixture
def deployed_45(deployments):
    return deployments('4.5')


def plugin_folder(deployment):
    return 'public/local/keepaccess' if os.path.isdir(os.path.join(deployment.root, 'public')) else 'local/keepaccess'


def test_copies_every_plugin_file_into_the_folder_moodle_loads_plugins_from(deployed):
    plugin_dir = os.path.join(deployed.root, plugin_folder(deployed))
    for relative in shipped_files():
        with open(os.path.join(SHIPPED, relative), 'rb') as shipped, open(os.path.join(plugin_dir, relative), 'rb') as copied:
            assert copied.read() == shipped.read(), relative
    assert oct(os.stat(os.path.join(plugin_dir, 'version.php')).st_mode & 0o777) == '0o644'
    other = 'local/keepaccess' if plugin_folder(deployed).startswith('public/') else 'public/local/keepaccess'
    assert not os.path.exists(os.path.join(deployed.root, other))


def test_first_run_upgrades_moodle_once_and_installs_the_shipped_version(deployed):
    assert deployed.upgrades_after_first == ['upgrade.php --non-interactive']
    assert installed_version(deployed.root) == SHIPPED_VERSION
    assert deployed.first['changed'] >= 2 and deployed.first['failed'] == 0


def test_second_run_changes_nothing_and_does_not_upgrade(deployed):
    assert deployed.second['changed'] == 0 and deployed.second['failed'] == 0
    assert calls(deployed.root, 'upgrade.php') == deployed.upgrades_after_first
    assert calls(deployed.root, 'purge_caches.php') == []


def test_upgrades_again_when_the_installed_version_differs_from_the_shipped_one(deployed_45, tmp_path):
    root = deployed_45.copy(tmp_path)
    with open(os.path.join(root, STATE), 'w') as handle:
        handle.write('2026010100')  # e.g. an older release of the plugin, restored from a backup

    again = recap(run_role(tmp_path, root))['fakehost']

    assert again['changed'] == 1
    assert len(calls(root, 'upgrade.php')) == 2
    assert installed_version(root) == SHIPPED_VERSION


def test_restores_an_edited_plugin_file_then_upgrades_and_purges_caches(deployed_45, tmp_path):
    root = deployed_45.copy(tmp_path)
    lang_file = os.path.join(root, 'local', 'keepaccess', 'lang', 'en', 'local_keepaccess.php')
    with open(lang_file, 'a') as handle:
        handle.write("$string['pluginname'] = 'Edited on the server';\n")

    run_role(tmp_path, root)

    with open(lang_file) as edited, open(os.path.join(SHIPPED, 'lang', 'en', 'local_keepaccess.php')) as shipped:
        assert edited.read() == shipped.read()
    assert len(calls(root, 'upgrade.php')) == 2
    assert calls(root, 'purge_caches.php') == ['purge_caches.php']


def test_refuses_a_directory_that_is_not_a_moodle_code_root(tmp_path):
    not_moodle = tmp_path / 'www'
    not_moodle.mkdir()

    output = run_role(tmp_path, str(not_moodle), expect_rc=2)

    assert 'is not a Moodle code root' in output
    assert not (not_moodle / 'local').exists()
