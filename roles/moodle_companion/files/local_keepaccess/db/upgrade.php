<?php
// This file is part of local_keepaccess, the companion plugin of the cemu.moodle Ansible collection.
//
// local_keepaccess is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// local_keepaccess is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with local_keepaccess.  If not, see <https://www.gnu.org/licenses/>.


/**
 * Upgrade steps of local_keepaccess.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

/**
 * Upgrades the plugin's tables from an earlier version.
 *
 * @param int $oldversion the version installed
 * @return bool
 */
function xmldb_local_keepaccess_upgrade($oldversion) {
    global $DB;
    $dbman = $DB->get_manager();

    if ($oldversion < 2026120110) {
        // History of what the service's writes changed, and the per-course run leases (db/install.xml).
        foreach (['local_keepaccess_history', 'local_keepaccess_lease'] as $tablename) {
            $table = new xmldb_table($tablename);
            if (!$dbman->table_exists($table)) {
                $dbman->install_one_table_from_xmldb_file(__DIR__ . '/install.xml', $tablename);
            }
        }
        upgrade_plugin_savepoint(true, 2026120110, 'local', 'keepaccess');
    }

    return true;
}
