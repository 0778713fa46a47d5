# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PHP of the companion Moodle plugin: syntax (php -l), licence header, strings, services.

CI installs php8.2-cli; where php is missing the PHP-running tests are skipped.
"""

import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from tests.collection_path import REPO_ROOT

PHP = shutil.which('php')
needs_php = pytest.mark.skipif(PHP is None, reason='php (php8.2-cli) is not installed')
PLUGIN = os.path.join(REPO_ROOT, 'roles', 'moodle_companion', 'files', 'local_keepaccess')
PHP_FILES = sorted(glob.glob(os.path.join(REPO_ROOT, 'roles', '**', '*.php'), recursive=True))
KEEP_ACCESS_FUNCTIONS = [
    'local_keepaccess_get_course_enrolments',
    'local_keepaccess_apply_manual_enrolments',
    'local_keepaccess_remove_manual_enrolments',
    'local_keepaccess_ensure_manual_instance',
    'local_keepaccess_get_course_history',
    'local_keepaccess_get_site_settings',
    'local_keepaccess_claim_course',
    'local_keepaccess_release_course',
]
CORE_FUNCTIONS = [
    'core_webservice_get_site_info',
    'core_course_get_courses_by_field',
    'core_course_get_categories',
    'enrol_manual_enrol_users',
    'enrol_manual_unenrol_users',
]


def relative(path):
    return os.path.relpath(path, REPO_ROOT)


def read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def test_the_plugin_has_php_files():
    assert os.path.join(PLUGIN, 'version.php') in PHP_FILES
    assert len(PHP_FILES) >= 10


@needs_php
@pytest.mark.parametrize('path', PHP_FILES, ids=relative)
def test_php_lint_passes(path):
    result = subprocess.run([PHP, '-l', path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize('path', PHP_FILES, ids=relative)
def test_php_file_starts_with_the_gpl_header(path):
    head = read(path)[:1200]
    assert head.startswith('<?php\n')
    assert 'either version 3 of the License, or' in head and '(at your option) any later version.' in head


def defined_strings():
    return set(re.findall(r"^\$string\['([^']+)'\]", read(os.path.join(PLUGIN, 'lang', 'en', 'local_keepaccess.php')), re.M))


def used_strings():
    used = set()
    for path in PHP_FILES:
        used.update(re.findall(r"'([a-z_:]+)', 'local_keepaccess'", read(path)))
    provider = read(os.path.join(PLUGIN, 'classes', 'privacy', 'provider.php'))
    used.update(name for name in re.findall(r"'(privacy:[a-z_:]+)'", provider) if not name.endswith(':'))
    fields = re.search(r'USER_FIELDS = \[(.*?)\];', provider, re.S).group(1)
    used.update('privacy:metadata:history:' + field for field in re.findall(r"'(\w+)'", fields))
    return used


def test_every_string_and_error_code_the_plugin_uses_has_an_english_string():
    used = used_strings()
    assert {'coursenotfound', 'unknownuser', 'deleteduser', 'guestuser', 'duplicateuser', 'invalidtimes',
            'cannotassignrole', 'nomanualinstance', 'privacy:metadata:keepaccess_backups', 'privacy:metadata:history',
            'privacy:metadata:history:userid', 'privacy:path:history', 'courseclaimed', 'claimrequired',
            'historyretention', 'taskpurgehistory'} <= used
    assert used - defined_strings() == set()


@needs_php
def test_services_file_declares_the_keep_access_service_and_functions_backed_by_classes():
    script = ("define('MOODLE_INTERNAL', true); include $argv[1];"
              " echo json_encode(['functions' => $functions, 'services' => $services]);")
    result = subprocess.run([PHP, '-r', script, os.path.join(PLUGIN, 'db', 'services.php')],
                            stdout=subprocess.PIPE, text=True, check=True)
    declared = json.loads(result.stdout)

    assert sorted(declared['functions']) == sorted(KEEP_ACCESS_FUNCTIONS)
    for name, function in declared['functions'].items():
        classname = function['classname']
        assert classname == 'local_keepaccess\\external\\' + name[len('local_keepaccess_'):]
        class_file = os.path.join(PLUGIN, 'classes', 'external', classname.rsplit('\\', 1)[1] + '.php')
        assert re.search(r'^class %s extends external_api' % re.escape(classname.rsplit('\\', 1)[1]),
                         read(class_file), re.M), class_file
    (service,) = declared['services'].values()
    assert service['shortname'] == 'keep_access'
    assert service['functions'] == KEEP_ACCESS_FUNCTIONS + CORE_FUNCTIONS
    assert service['restrictedusers'] == 1 and service['enabled'] == 1


@needs_php
def test_version_file_names_the_component_and_supports_moodle_4_1_to_5_1():
    script = ("define('MOODLE_INTERNAL', true); define('MATURITY_STABLE', 200); $plugin = new stdClass();"
              " include $argv[1]; echo json_encode($plugin);")
    result = subprocess.run([PHP, '-r', script, os.path.join(PLUGIN, 'version.php')],
                            stdout=subprocess.PIPE, text=True, check=True)
    plugin = json.loads(result.stdout)

    assert plugin['component'] == 'local_keepaccess'
    assert plugin['version'] == 2026120200
    assert plugin['requires'] == 2022112800
    assert plugin['supported'] == [401, 501]
