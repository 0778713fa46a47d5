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

namespace local_keepaccess\privacy;

use core_privacy\local\metadata\collection;
use core_privacy\local\request\approved_contextlist;
use core_privacy\local\request\approved_userlist;
use core_privacy\local\request\contextlist;
use core_privacy\local\request\userlist;

/**
 * Privacy provider of local_keepaccess.
 *
 * The plugin keeps no personal data in Moodle: it has no tables and no user preferences, and what it
 * writes (manual enrolments and role assignments) are core records that enrol_manual and the role
 * subsystem declare, export and delete. Its read function exists to send personal data out of Moodle:
 * the cemu.moodle Ansible collection writes course enrolment backups (user id, username, enrolment
 * method, status, start and end, roles) to files outside Moodle. That is declared here as an external
 * location. There is nothing inside Moodle to export or delete, so the request methods do nothing.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class provider implements
        \core_privacy\local\metadata\provider,
        \core_privacy\local\request\core_userlist_provider,
        \core_privacy\local\request\plugin\provider {

    /**
     * Describes the personal data the plugin sends outside Moodle.
     *
     * @param collection $collection
     * @return collection
     */
    public static function get_metadata(collection $collection): collection {
        $collection->add_external_location_link('keepaccess_backups', [
            'userid' => 'privacy:metadata:keepaccess_backups:userid',
            'username' => 'privacy:metadata:keepaccess_backups:username',
            'courseid' => 'privacy:metadata:keepaccess_backups:courseid',
            'enrol' => 'privacy:metadata:keepaccess_backups:enrol',
            'status' => 'privacy:metadata:keepaccess_backups:status',
            'timestart' => 'privacy:metadata:keepaccess_backups:timestart',
            'timeend' => 'privacy:metadata:keepaccess_backups:timeend',
            'roles' => 'privacy:metadata:keepaccess_backups:roles',
        ], 'privacy:metadata:keepaccess_backups');
        return $collection;
    }

    /**
     * No context holds data of this plugin.
     *
     * @param int $userid
     * @return contextlist
     */
    public static function get_contexts_for_userid(int $userid): contextlist {
        return new contextlist();
    }

    /**
     * No user has data of this plugin in any context.
     *
     * @param userlist $userlist
     */
    public static function get_users_in_context(userlist $userlist) {
    }

    /**
     * Nothing to export: the plugin keeps no personal data in Moodle.
     *
     * @param approved_contextlist $contextlist
     */
    public static function export_user_data(approved_contextlist $contextlist) {
    }

    /**
     * Nothing to delete in Moodle (backups outside Moodle are the operator's to delete).
     *
     * @param \context $context
     */
    public static function delete_data_for_all_users_in_context(\context $context) {
    }

    /**
     * Nothing to delete in Moodle (backups outside Moodle are the operator's to delete).
     *
     * @param approved_contextlist $contextlist
     */
    public static function delete_data_for_user(approved_contextlist $contextlist) {
    }

    /**
     * Nothing to delete in Moodle (backups outside Moodle are the operator's to delete).
     *
     * @param approved_userlist $userlist
     */
    public static function delete_data_for_users(approved_userlist $userlist) {
    }
}
