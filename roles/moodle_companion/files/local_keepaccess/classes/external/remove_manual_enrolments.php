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
 * Since 2026120130 a row that keeps its enrolment (unenrol 0) may give status, timestart and timeend
 * to put back (an undo of a conversion: one write per user, so a user is never half undone); they are
 * written with the manual plugin's update_user_enrol(), only when they differ.
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
                'status' => new external_value(PARAM_INT, 'Status to put back (unenrol 0)', VALUE_OPTIONAL),
                'timestart' => new external_value(PARAM_INT, 'Start to put back (unenrol 0)', VALUE_OPTIONAL),
                'timeend' => new external_value(PARAM_INT, 'End to put back (unenrol 0)', VALUE_OPTIONAL),
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
        if (array_filter($rows, [self::class, 'puts_back_fields'])) {
            $instance = $target->require_manual_instance();
        }
        $run = ['runid' => $params['runid'], 'step' => $params['step']];
        course_guard::require_valid_runid($run['runid'], $target);
        $lock = course_guard::lock($target);
        try {
            course_guard::require_writable($target, $run['runid']);
            $manual = $instance ?? $target->find_manual_instance();
            $enrolled = $manual ? request_checks::enrolments_of($userids, $manual->id) : [];
            $putback = self::fields_to_put_back($rows, $enrolled, $target);
            $heldroles = request_checks::manual_roles_of($userids, $target);

            $transaction = $DB->start_delegated_transaction();
            $results = [];
            foreach ($rows as $row) {
                $results[] = self::remove_row($row, $instance, $enrolled, $putback, $heldroles, $target, $run);
            }
            $transaction->allow_commit();
        } finally {
            $lock->release();
        }
        return $results;
    }

    /**
     * Whether a row gives fields to put back (status, timestart, timeend).
     *
     * @param array $row
     * @return bool
     */
    private static function puts_back_fields(array $row): bool {
        return isset($row['status']) || isset($row['timestart']) || isset($row['timeend']);
    }

    /**
     * The fields each row puts back that differ from the user's enrolment, checked before any write.
     *
     * A row that unenrols, or whose user has no manual enrolment, puts nothing back. Needs
     * enrol/manual:manage when anything is to be written.
     *
     * @param array $rows
     * @param array $enrolled [userid => the user's enrolment in the manual instance]
     * @param course_target $target
     * @return array [userid => [field => value]]
     * @throws \moodle_exception invalidstatus, invalidtimes
     */
    private static function fields_to_put_back(array $rows, array $enrolled, course_target $target): array {
        $putback = [];
        foreach ($rows as $row) {
            $userid = (int) $row['userid'];
            if (!empty($row['unenrol']) || !self::puts_back_fields($row) || !isset($enrolled[$userid])) {
                continue;
            }
            $ue = $enrolled[$userid];
            $values = [];
            foreach (['status', 'timestart', 'timeend'] as $field) {
                if (isset($row[$field]) && (int) $row[$field] !== (int) $ue->$field) {
                    $values[$field] = (int) $row[$field];
                }
            }
            if (isset($values['status'])) {
                request_checks::require_valid_status($values['status'], $userid, $target);
            }
            request_checks::require_valid_times($values['timestart'] ?? (int) $ue->timestart,
                $values['timeend'] ?? (int) $ue->timeend, $userid, $target);
            if ($values) {
                $putback[$userid] = $values;
            }
        }
        if ($putback) {
            require_capability('enrol/manual:manage', $target->context);
        }
        return $putback;
    }

    /**
     * Removes one row's roles and enrolment (or puts its fields back) and records the change in the history.
     *
     * @param array $row
     * @param stdClass|null $instance the manual instance (null: no row unenrols or puts fields back)
     * @param array $enrolled [userid => the user's enrolment in the manual instance]
     * @param array $putback [userid => [field => value]] from fields_to_put_back()
     * @param array $heldroles [userid => [roleid => true]] manual roles held
     * @param course_target $target
     * @param array $run runid and step
     * @return array the row's result
     */
    private static function remove_row(array $row, ?stdClass $instance, array $enrolled, array $putback,
            array $heldroles, course_target $target, array $run): array {
        $userid = (int) $row['userid'];
        $held = $heldroles[$userid] ?? [];
        $unassigned = self::unassign_manual_roles($userid, $row['roleids'] ?? [], $held, $target);
        $unenrolled = !empty($row['unenrol']) && isset($enrolled[$userid]);
        $before = history::enrolment_state($enrolled[$userid] ?? null);
        $after = $before;
        if ($unenrolled) {
            // Moodle's own unenrol: when it is the user's last enrolment Moodle also removes roles and groups.
            enrol_get_plugin('manual')->unenrol_user($instance, $userid);
            $after = history::enrolment_state(null);
        } else if (isset($putback[$userid])) {
            $values = $putback[$userid];
            enrol_get_plugin('manual')->update_user_enrol($instance, $userid, $values['status'] ?? null,
                $values['timestart'] ?? null, $values['timeend'] ?? null);
            $after = history::enrolment_state($values + (array) $enrolled[$userid]);
        }
        $rolesafter = array_values(array_diff(array_keys($held), $unassigned));
        if ($unenrolled) {
            // The user's last enrolment takes every course role with it: read what is left.
            $rolesafter = array_keys(request_checks::manual_roles_of([$userid], $target)[$userid] ?? []);
        }
        history::record((int) $target->course->id, $userid, $run, $before, $after, array_keys($held), $rolesafter);
        return ['userid' => $userid, 'unenrolled' => $unenrolled ? 1 : 0, 'rolesunassigned' => $unassigned,
            'fieldsreverted' => array_keys($putback[$userid] ?? [])];
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
            'fieldsreverted' => new external_multiple_structure(
                new external_value(PARAM_ALPHA, 'Field put back: status, timestart or timeend')),
        ]));
    }
}
