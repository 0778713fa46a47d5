# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as users get it: built with ansible-galaxy, installed, documented, run, accepted by Galaxy.

The build starts from a copy of the checkout that also holds what a
developer's checkout collects (virtualenv, caches, test output, backups and
reports of demo runs), so the test fails when ``build_ignore`` lets any of it
into the tarball. Galaxy's own checks run offline: ``galaxy-importer`` on the
tarball and ``antsibull-docs lint-collection-docs --plugin-docs`` on the
installed copy.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from tests.tools.stage_collection import REPO_ROOT, collection_files
from tests.tools.suite import venv_tool
from tests.unit.http_fixtures import unused_port

# Our chosen canonical home of the collection.
CANONICAL_REPOSITORY = 'https://github.com/cemu-moodle/cemu.moodle'
MODULES = ('moodle_backup_enrolments', 'moodle_restore_manual', 'moodle_set_enrol_end')
FIRST_MODULE = os.path.join(REPO_ROOT, 'plugins', 'modules', MODULES[0] + '.py')

# What a working checkout holds besides the collection; none of it may ship.
CHECKOUT_LEFTOVERS = (
    '.venv/bin/python',
    '.venv/lib/python3.11/site-packages/requests/__init__.py',
    '.cache/ac/ansible_collections/cemu/moodle/galaxy.yml',
    '.ansible/collections/ansible_collections/cemu/moodle/galaxy.yml',
    '.pytest_cache/v/cache/lastfailed',
    'tests/output/suite/unit.xml',
    'plugins/module_utils/__pycache__/client.cpython-311.pyc',
    'backups/moodle.example.edu/course-2/enrolments-20260820T100000.000000Z.json',
    'reports/keep_access-20260820.json',
    'demo-output/report.json',
    'cemu-moodle-0.0.9.tar.gz',
)
FORBIDDEN_DIRS = ('.venv', '.cache', '.ansible', '.pytest_cache', '__pycache__', '.git')
FORBIDDEN_PREFIXES = ('tests/output/', 'backups/', 'reports/', 'demo-output/')

pytestmark = pytest.mark.skipif(not os.path.exists(FIRST_MODULE),
                                reason='plugins/modules/%s.py does not exist yet' % MODULES[0])


def ansible(tool, *args, **kwargs):
    """Run an ansible-* tool from the virtualenv; fail the test with its output when it fails."""
    completed = subprocess.run([venv_tool(tool)] + list(args), capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, check=False, **kwargs)
    assert completed.returncode == 0, '%s %s failed:\n%s\n%s' % (tool, ' '.join(args), completed.stdout,
                                                                 completed.stderr)
    return completed


def checkout_copy_with_leftovers(target):
    """Copy the collection's files to target and add a developer's leftovers."""
    for relpath in collection_files(REPO_ROOT):
        source = os.path.join(REPO_ROOT, relpath)
        os.makedirs(os.path.dirname(os.path.join(target, relpath)), exist_ok=True)
        shutil.copy2(source, os.path.join(target, relpath), follow_symlinks=False)
    for relpath in CHECKOUT_LEFTOVERS:
        path = os.path.join(target, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as leftover:
            leftover.write('not part of the collection\n')


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """Build the tarball from a checkout copy and install it; return (tarball, collections path, env)."""
    base = tmp_path_factory.mktemp('galaxy')
    source, dist, collections = base / 'checkout', base / 'dist', base / 'collections'
    checkout_copy_with_leftovers(str(source))
    ansible('ansible-galaxy', 'collection', 'build', '--output-path', str(dist), str(source), cwd=str(base))
    tarballs = list(dist.glob('cemu-moodle-*.tar.gz'))
    assert len(tarballs) == 1, tarballs
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1')
    ansible('ansible-galaxy', 'collection', 'install', '--offline', '-p', str(collections), str(tarballs[0]),
            cwd=str(base), env=env)
    return tarballs[0], collections, env


def tarball_members(tarball):
    """Return the relative paths of everything in the tarball."""
    with tarfile.open(tarball) as archive:
        return [os.path.normpath(name) for name in archive.getnames()]


def is_forbidden(member):
    """Tell whether a tarball member is a developer's leftover rather than collection content."""
    parts = member.split('/')
    return (any(part in FORBIDDEN_DIRS for part in parts) or member.startswith(FORBIDDEN_PREFIXES)
            or member.endswith(('.pyc', '.tar.gz')))


def test_tarball_ships_no_leftovers(built):
    tarball, _collections, _env = built
    members = tarball_members(str(tarball))
    assert 'plugins/modules/%s.py' % MODULES[0] in members
    assert 'MANIFEST.json' in members
    assert [member for member in members if is_forbidden(member)] == []


def test_the_license_text_ships_in_the_tarball(built):
    tarball, _collections, _env = built
    with tarfile.open(str(tarball)) as archive:
        license_text = archive.extractfile('LICENSE').read().decode('utf-8')
        manifest = json.load(archive.extractfile('MANIFEST.json'))
    assert 'GNU GENERAL PUBLIC LICENSE' in license_text and 'Version 3, 29 June 2007' in license_text
    assert 'END OF TERMS AND CONDITIONS' in license_text, 'LICENSE is not the whole GPL-3.0 text'
    assert manifest['collection_info']['license'] == ['GPL-3.0-or-later']


def test_galaxy_yml_names_the_real_repository():
    with open(os.path.join(REPO_ROOT, 'galaxy.yml'), encoding='utf-8') as handle:
        galaxy = yaml.safe_load(handle)
    for key in ('repository', 'documentation', 'homepage', 'issues'):
        assert galaxy[key].startswith(CANONICAL_REPOSITORY), (key, galaxy[key])


# galaxy-importer as Galaxy runs it, but offline: no container, no ansible-test of its own (it would pull an
# image); its ansible-lint only warns and never fails an import (the suite's lint stage runs ansible-lint).
IMPORTER_CONFIG = """[galaxy-importer]
run_ansible_test = False
ansible_test_local_image = False
local_image_docker = False
infra_osd = False
run_ansible_doc = True
run_ansible_lint = False
run_flake8 = False
check_changelog = True
tmp_root_dir = {tmp}
ansible_local_tmp = {tmp}/ansible-local
"""


def tools_env(env):
    """The environment with the virtualenv's tools (ansible-doc, ...) first on PATH."""
    return dict(env, PATH=os.pathsep.join([os.path.dirname(venv_tool('ansible-doc')), env.get('PATH', '')]))


def test_galaxy_importer_accepts_the_tarball(built, tmp_path):
    tarball, _collections, env = built
    config = tmp_path / 'galaxy-importer.cfg'
    config.write_text(IMPORTER_CONFIG.format(tmp=tmp_path))
    importer_env = tools_env(dict(env, GALAXY_IMPORTER_CONFIG=str(config)))
    completed = subprocess.run([sys.executable, '-m', 'galaxy_importer.main', str(tarball)], capture_output=True,
                               text=True, stdin=subprocess.DEVNULL, env=importer_env, cwd=str(tmp_path), check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0 and 'Importer processing completed successfully' in output, output[-5000:]
    assert 'ERROR' not in output and 'WARNING' not in output, output[-5000:]
    assert 'Loading role keep_access' in output and 'Getting doc strings via ansible-doc' in output


def test_antsibull_docs_lint_passes_on_the_installed_collection(built):
    _tarball, collections, env = built
    installed = collections / 'ansible_collections' / 'cemu' / 'moodle'
    completed = subprocess.run([venv_tool('antsibull-docs'), 'lint-collection-docs', '--plugin-docs', '.'],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL, env=tools_env(env),
                               cwd=str(installed), check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_installed_modules_are_documented_from_the_installed_copy(built):
    _tarball, collections, env = built
    names = ['cemu.moodle.' + module for module in MODULES]
    docs = json.loads(ansible('ansible-doc', '--json', *names, cwd=str(collections), env=env).stdout)
    assert sorted(docs) == sorted(names)
    for name in names:
        doc = docs[name]['doc']
        assert doc['filename'].startswith(str(collections)), doc['filename']
        # The connection and attributes doc fragments were found and merged from the installed collection.
        assert {'moodle_url', 'moodle_token', 'validate_certs'} <= set(doc['options'])
        assert doc['attributes']['action_group']['membership'] == ['cemu.moodle.moodle']
        assert doc['attributes']['check_mode']['support'] == 'full' and doc['attributes']['check_mode']['details']


def test_installed_module_runs_and_fails_cleanly_without_moodle(built, tmp_path):
    _tarball, collections, env = built
    env = dict(env, MOODLE_TOKEN='0123456789abcdef0123456789abcdef')
    args = 'moodle_url=http://127.0.0.1:%d course=2 timeout=2 backup_dir=%s' % (unused_port(), tmp_path)
    completed = subprocess.run([venv_tool('ansible'), 'localhost', '--one-line', '-m', 'cemu.moodle.' + MODULES[0],
                                '-a', args],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
                               cwd=str(collections), check=False)
    assert completed.returncode != 0
    assert 'localhost | FAILED! => ' in completed.stdout, completed.stdout + completed.stderr
    result = json.loads(completed.stdout.split('localhost | FAILED! => ', 1)[1].splitlines()[0])
    # The module itself answered (it imported its module_utils from the installed copy);
    # no traceback, and the token is nowhere in what it said.
    assert 'MODULE FAILURE' not in result['msg'] and 'Traceback' not in completed.stdout, result
    assert '127.0.0.1' in result['msg'], result['msg']
    assert env['MOODLE_TOKEN'] not in completed.stdout + completed.stderr
