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

namespace local_keepaccess\external;

defined('MOODLE_INTERNAL') || die();

require_once(__DIR__ . '/../../externalcompat.php');

use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_multiple_structure;
use core_external\external_single_structure;
use core_external\external_value;
use local_keepaccess\local\course_guard;
use local_keepaccess\local\course_target;
use local_keepaccess\local\history;
use local_keepaccess\local\request_checks;
use stdClass;

/**
 * local_keepaccess_remove_manual_enrolments: undoes manual role assignments and enrolments, all rows or none.
 *
 * Under the course's lock it checks the run's claim (course_guard) and records in the history
 * table, in the same transaction, what it changed for each user.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class remove_manual_enrolments extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'enrolments' => new external_multiple_structure(new external_single_structure([
                'userid' => new external_value(PARAM_INT, 'User id'),
                'unenrol' => new external_value(PARAM_INT, '1 = remove the manual enrolment', VALUE_DEFAULT, 0),
                'roleids' => new external_multiple_structure(
                    new external_value(PARAM_INT, 'Role id'), 'Manual role assignments to remove', VALUE_OPTIONAL),
            ])),
            'runid' => new external_value(PARAM_ALPHANUMEXT, 'Run writing (must hold the course claim); empty = none',
                VALUE_DEFAULT, ''),
            'step' => new external_value(PARAM_ALPHANUMEXT, 'Step of the run, kept in the history', VALUE_DEFAULT, ''),
        ]);
    }

    /**
     * Removes the rows' roles and enrolments in one transaction.
     *
     * @param int $courseid
     * @param array $enrolments
     * @param string $runid
     * @param string $step
     * @return array one result per row, in request order
     */
    public static function execute(int $courseid, array $enrolments, string $runid = '', string $step = ''): array {
        global $DB;
        $params = self::validate_parameters(self::execute_parameters(),
            ['courseid' => $courseid, 'enrolments' => $enrolments, 'runid' => $runid, 'step' => $step]);
        $target = course_target::load($params['courseid']);
        self::validate_context($target->context);

        $rows = $params['enrolments'];
        $userids = array_map('intval', array_column($rows, 'userid'));
        request_checks::require_unique_users($userids, $target);
        self::require_known_users($userids, $target);
        request_checks::require_assignable_roles(request_checks::all_roleids($rows), $target);
        $instance = null;
        if (array_filter(array_column($rows, 'unenrol'))) {
            require_capability('enrol/manual:unenrol', $target->context);
            $instance = $target->require_manual_instance();
        }
        $run = ['runid' => $params['runid'], 'step' => $params['step']];
        course_guard::require_valid_runid($run['runid'], $target);
        $lock = course_guard::lock($target);
        try {
            course_guard::require_writable($target, $run['runid']);
            $manual = $instance ?? $target->find_manual_instance();
            $enrolled = $manual ? request_checks::enrolments_of($userids, $manual->id) : [];
            $heldroles = request_checks::manual_roles_of($userids, $target);

            $transaction = $DB->start_delegated_transaction();
            $results = [];
            foreach ($rows as $row) {
                $results[] = self::remove_row($row, $instance, $enrolled, $heldroles, $target, $run);
            }
            $transaction->allow_commit();
        } finally {
            $lock->release();
        }
        return $results;
    }

    /**
     * Removes one row's roles and enrolment and records the change in the history.
     *
     * @param array $row
     * @param stdClass|null $instance the manual instance to unenrol from (null: no row unenrols)
     * @param array $enrolled [userid => the user's enrolment in the manual instance]
     * @param array $heldroles [userid => [roleid => true]] manual roles held
     * @param course_target $target
     * @param array $run runid and step
     * @return array the row's result
     */
    private static function remove_row(array $row, ?stdClass $instance, array $enrolled, array $heldroles,
            course_target $target, array $run): array {
        $userid = (int) $row['userid'];
        $held = $heldroles[$userid] ?? [];
        $unassigned = self::unassign_manual_roles($userid, $row['roleids'] ?? [], $held, $target);
        $unenrolled = !empty($row['unenrol']) && isset($enrolled[$userid]);
        if ($unenrolled) {
            // Moodle's own unenrol: when it is the user's last enrolment Moodle also removes roles and groups.
            enrol_get_plugin('manual')->unenrol_user($instance, $userid);
        }
        $before = history::enrolment_state($enrolled[$userid] ?? null);
        $rolesafter = array_values(array_diff(array_keys($held), $unassigned));
        if ($unenrolled) {
            // The user's last enrolment takes every course role with it: read what is left.
            $rolesafter = array_keys(request_checks::manual_roles_of([$userid], $target)[$userid] ?? []);
        }
        history::record((int) $target->course->id, $userid, $run, $before,
            $unenrolled ? history::enrolment_state(null) : $before, array_keys($held), $rolesafter);
        return ['userid' => $userid, 'unenrolled' => $unenrolled ? 1 : 0, 'rolesunassigned' => $unassigned];
    }

    /**
     * Fails unless every user id exists; deleted users are accepted (Moodle already removed their enrolments).
     *
     * @param int[] $userids
     * @param course_target $target
     * @throws \moodle_exception unknownuser
     */
    private static function require_known_users(array $userids, course_target $target): void {
        global $DB;
        $found = $userids ? $DB->get_records_list('user', 'id', $userids, '', 'id') : [];
        foreach ($userids as $userid) {
            if (!isset($found[$userid])) {
                throw new \moodle_exception('unknownuser', 'local_keepaccess', '', $target->about_user($userid));
            }
        }
    }

    /**
     * Removes the user's manual (component '', itemid 0) assignments of the given roles that exist.
     *
     * @param int $userid
     * @param int[] $roleids
     * @param array $heldroles [roleid => true]
     * @param course_target $target
     * @return int[] the role ids removed
     */
    private static function unassign_manual_roles(int $userid, array $roleids, array $heldroles, course_target $target): array {
        $removed = [];
        foreach (array_map('intval', $roleids) as $roleid) {
            if (!empty($heldroles[$roleid])) {
                role_unassign($roleid, $userid, $target->context->id, '', 0);
                unset($heldroles[$roleid]);
                $removed[] = $roleid;
            }
        }
        return $removed;
    }

    /**
     * Return structure.
     *
     * @return external_multiple_structure
     */
    public static function execute_returns(): external_multiple_structure {
        return new external_multiple_structure(new external_single_structure([
            'userid' => new external_value(PARAM_INT, 'User id'),
            'unenrolled' => new external_value(PARAM_INT, '1 when the manual enrolment was removed'),
            'rolesunassigned' => new external_multiple_structure(new external_value(PARAM_INT, 'Role id removed')),
        ]));
    }
}
