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

use context;
use context_course;
use core_privacy\local\metadata\collection;
use core_privacy\local\request\approved_contextlist;
use core_privacy\local\request\approved_userlist;
use core_privacy\local\request\contextlist;
use core_privacy\local\request\transform;
use core_privacy\local\request\userlist;
use core_privacy\local\request\writer;
use local_keepaccess\local\history;

/**
 * Privacy provider: the history of what the keep_access service changed for a user in a course,
 * and the backups the collection writes outside Moodle.
 *
 * Everything else the plugin touches is Moodle's own enrolment and role data, which the core
 * enrolment and role subsystems declare and export. History records live in the course context.
 * The plugin's read function exists to send personal data out of Moodle: the cemu.moodle Ansible
 * collection writes course enrolment backups (user id, username, enrolment method, status, start
 * and end, roles) to files outside Moodle, declared here as an external location (nothing in Moodle
 * to export or delete for it).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class provider implements
        \core_privacy\local\metadata\provider,
        \core_privacy\local\request\plugin\provider,
        \core_privacy\local\request\core_userlist_provider {

    /** @var string[] history fields a user's export and the metadata name */
    private const USER_FIELDS = ['userid', 'courseid', 'runid', 'step', 'hadbefore', 'statusbefore', 'timestartbefore',
        'timeendbefore', 'hasafter', 'statusafter', 'timestartafter', 'timeendafter', 'rolesbefore', 'rolesafter',
        'timecreated'];

    /**
     * Describes the history table and the backups outside Moodle.
     *
     * @param collection $collection
     * @return collection
     */
    public static function get_metadata(collection $collection): collection {
        $fields = [];
        foreach (self::USER_FIELDS as $field) {
            $fields[$field] = 'privacy:metadata:history:' . $field;
        }
        $collection->add_database_table(history::TABLE, $fields, 'privacy:metadata:history');
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
     * Course contexts where the user has history records.
     *
     * @param int $userid
     * @return contextlist
     */
    public static function get_contexts_for_userid(int $userid): contextlist {
        $contextlist = new contextlist();
        $contextlist->add_from_sql("SELECT ctx.id
                                      FROM {context} ctx
                                      JOIN {" . history::TABLE . "} h ON h.courseid = ctx.instanceid
                                     WHERE ctx.contextlevel = :contextlevel AND h.userid = :userid",
            ['contextlevel' => CONTEXT_COURSE, 'userid' => $userid]);
        return $contextlist;
    }

    /**
     * Users with history records in a course context.
     *
     * @param userlist $userlist
     */
    public static function get_users_in_context(userlist $userlist) {
        $context = $userlist->get_context();
        if (!$context instanceof context_course) {
            return;
        }
        $userlist->add_from_sql('userid', 'SELECT userid FROM {' . history::TABLE . '} WHERE courseid = :courseid',
            ['courseid' => $context->instanceid]);
    }

    /**
     * Exports the user's history records, per course.
     *
     * @param approved_contextlist $contextlist
     */
    public static function export_user_data(approved_contextlist $contextlist) {
        global $DB;
        $userid = (int) $contextlist->get_user()->id;
        foreach ($contextlist->get_contexts() as $context) {
            if (!$context instanceof context_course) {
                continue;
            }
            $records = $DB->get_records(history::TABLE, ['courseid' => $context->instanceid, 'userid' => $userid], 'id');
            if (!$records) {
                continue;
            }
            $changes = array_map([self::class, 'export_record'], array_values($records));
            writer::with_context($context)->export_data([get_string('privacy:path:history', 'local_keepaccess')],
                (object) ['changes' => $changes]);
        }
    }

    /**
     * One history record as exported: readable dates and yes/no.
     *
     * @param \stdClass $record
     * @return \stdClass
     */
    private static function export_record(\stdClass $record): \stdClass {
        $export = (object) ['run' => $record->runid, 'step' => $record->step,
            'timecreated' => transform::datetime($record->timecreated)];
        foreach (['before', 'after'] as $when) {
            $present = $when === 'before' ? $record->hadbefore : $record->hasafter;
            $export->{'manualenrolment' . $when} = transform::yesno($present);
            $export->{'status' . $when} = (int) $record->{'status' . $when};
            $export->{'timestart' . $when} = $record->{'timestart' . $when} ? transform::datetime($record->{'timestart' . $when}) : '';
            $export->{'timeend' . $when} = $record->{'timeend' . $when} ? transform::datetime($record->{'timeend' . $when}) : '';
            $export->{'roles' . $when} = $record->{'roles' . $when};
        }
        return $export;
    }

    /**
     * Deletes every history record of a course context.
     *
     * @param context $context
     */
    public static function delete_data_for_all_users_in_context(context $context) {
        global $DB;
        if ($context instanceof context_course) {
            $DB->delete_records(history::TABLE, ['courseid' => $context->instanceid]);
        }
    }

    /**
     * Deletes the user's history records in the approved course contexts.
     *
     * @param approved_contextlist $contextlist
     */
    public static function delete_data_for_user(approved_contextlist $contextlist) {
        global $DB;
        $userid = (int) $contextlist->get_user()->id;
        foreach ($contextlist->get_contexts() as $context) {
            if ($context instanceof context_course) {
                $DB->delete_records(history::TABLE, ['courseid' => $context->instanceid, 'userid' => $userid]);
            }
        }
    }

    /**
     * Deletes the listed users' history records in one course context.
     *
     * @param approved_userlist $userlist
     */
    public static function delete_data_for_users(approved_userlist $userlist) {
        global $DB;
        $context = $userlist->get_context();
        $userids = $userlist->get_userids();
        if (!$context instanceof context_course || !$userids) {
            return;
        }
        [$insql, $params] = $DB->get_in_or_equal($userids, SQL_PARAMS_NAMED);
        $params['courseid'] = $context->instanceid;
        $DB->delete_records_select(history::TABLE, "courseid = :courseid AND userid $insql", $params);
    }
}
