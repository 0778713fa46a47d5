# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The companion plugin's privacy provider, run under PHP against Moodle's privacy API (4.1 to 5.1).

The plugin keeps the history of its writes in Moodle (table local_keepaccess_history, course contexts)
and exists to copy enrolments out of it (the collection's backup files): Moodle's privacy registry must
show that table and that external location, with every field, and the provider must be one Moodle
counts as compliant (metadata provider + data provider, with the interface signatures of core_privacy,
which are the same from 4.1 to 5.1). tests/live/history_privacy_check.php runs the provider's export
and delete on a real Moodle.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.unit.test_php_lint import PLUGIN, read

PHP = shutil.which('php')
pytestmark = pytest.mark.skipif(PHP is None, reason='php (php8.2-cli) is not installed')
PROVIDER = os.path.join(PLUGIN, 'classes', 'privacy', 'provider.php')
HISTORY = os.path.join(PLUGIN, 'classes', 'local', 'history.php')
LANG = os.path.join(PLUGIN, 'lang', 'en', 'local_keepaccess.php')

# core_privacy's interfaces and the collection class, reduced to what the provider touches; the
# signatures are copied from Moodle (privacy/classes/local/...), so an incompatible one is a PHP fatal error.
MOODLE_PRIVACY_API = r'''
namespace core_privacy\local\metadata {
    interface provider {
        public static function get_metadata(collection $collection): collection;
    }
    interface null_provider {
        public static function get_reason(): string;
    }
    class collection {
        public $external = [];
        public $tables = [];
        public function add_external_location_link($name, array $privacyfields, $summary = '') {
            $this->external[] = ['name' => $name, 'fields' => $privacyfields, 'summary' => $summary];
            return $this;
        }
        public function add_database_table($name, array $privacyfields, $summary = '') {
            $this->tables[] = ['name' => $name, 'fields' => $privacyfields, 'summary' => $summary];
            return $this;
        }
    }
}
namespace core_privacy\local\request {
    interface data_provider {}
    interface core_data_provider extends data_provider {}
    interface core_user_data_provider extends core_data_provider {
        public static function get_contexts_for_userid(int $userid): contextlist;
        public static function export_user_data(approved_contextlist $contextlist);
        public static function delete_data_for_all_users_in_context(\context $context);
        public static function delete_data_for_user(approved_contextlist $contextlist);
    }
    interface userlist_provider {}
    interface core_userlist_provider extends userlist_provider {
        public static function get_users_in_context(userlist $userlist);
        public static function delete_data_for_users(approved_userlist $userlist);
    }
    class contextlist {
        public $sql = [];
        public function add_from_sql(string $sql, array $params): contextlist {
            $this->sql[] = [$sql, $params];
            return $this;
        }
    }
}
namespace core_privacy\local\request\plugin {
    interface provider extends \core_privacy\local\request\core_user_data_provider {}
}
namespace {
    define('MOODLE_INTERNAL', true);
    define('CONTEXT_COURSE', 50);
    require($argv[2]);      // local_keepaccess\local\history (the table's name)
    require($argv[1]);
    $class = 'local_keepaccess\privacy\provider';
    $collection = $class::get_metadata(new \core_privacy\local\metadata\collection());
    $implements = array_values(class_implements($class));
    sort($implements);
    echo json_encode(['external' => $collection->external, 'tables' => $collection->tables,
        'implements' => $implements, 'contexts' => $class::get_contexts_for_userid(5)->sql]);
}
'''


@pytest.fixture(scope='module')
def provider():
    result = subprocess.run([PHP, '-r', MOODLE_PRIVACY_API.replace('<?php', ''), PROVIDER, HISTORY],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert result.returncode == 0, result.stdout
    return json.loads(result.stdout)


def test_provider_is_compliant_by_moodles_rule(provider):
    # core_privacy\manager::component_is_compliant(): a null provider, or a metadata provider that is
    # also a data provider. A null provider would claim that no personal data leaves Moodle.
    implements = provider['implements']
    assert 'core_privacy\\local\\metadata\\null_provider' not in implements
    assert {'core_privacy\\local\\metadata\\provider', 'core_privacy\\local\\request\\data_provider',
            'core_privacy\\local\\request\\core_userlist_provider'} <= set(implements)
    [(sql, params)] = provider['contexts']       # the course contexts of the user's history records
    assert '{local_keepaccess_history}' in sql and params == {'contextlevel': 50, 'userid': 5}


def test_backups_outside_moodle_are_declared_with_every_field_a_backup_row_holds(provider):
    [location] = provider['external']
    assert location['name'] == 'keepaccess_backups'
    # plugins/module_utils/plan.py _backup_row(): userid, username, enrol + instanceid, status,
    # timestart, timeend, roles; the file names the course.
    assert set(location['fields']) == {'userid', 'username', 'courseid', 'enrol', 'status', 'timestart',
                                       'timeend', 'roles'}


def test_every_privacy_string_exists(provider):
    [location] = provider['external']
    lang = read(LANG)
    for identifier in list(location['fields'].values()) + [location['summary']]:
        assert "$string['%s']" % identifier in lang
    assert 'outside Moodle' in lang or 'out of Moodle' in lang


def test_the_history_table_is_declared_with_every_field_about_the_user(provider):
    [table] = provider['tables']
    assert table['name'] == 'local_keepaccess_history'
    assert {'userid', 'courseid', 'runid', 'timeendbefore', 'timeendafter', 'rolesafter', 'timecreated'} <= \
        set(table['fields'])
    lang = read(LANG)
    for identifier in list(table['fields'].values()) + [table['summary']]:
        assert "$string['%s']" % identifier in lang
