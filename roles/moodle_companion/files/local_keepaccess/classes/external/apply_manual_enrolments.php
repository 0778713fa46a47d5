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
use local_keepaccess\local\new_enrolments;
use local_keepaccess\local\request_checks;
use local_keepaccess\local\role_copies;
use stdClass;

/**
 * local_keepaccess_apply_manual_enrolments: creates or updates manual enrolments, all rows or none.
 *
 * Unlike enrol_manual_enrol_users it writes only the fields given and only when they differ,
 * never re-enrols an existing user, and sends the course welcome message only when asked.
 * A role the caller may not assign in the course (or that does not exist) is skipped for that row
 * only and reported in 'rolesskipped', like Moodle's restore skips a role the restoring user
 * cannot assign; the enrolment is written anyway.
 * Under the course's lock it checks the run's claim (course_guard) and records in the history
 * table, in the same transaction, what it changed for each user.
 * Changed enrolments go through the enrolment API one by one (update_user_enrol(): its event and caches);
 * the new enrolments, the role copies and the history rows are written once for the whole call, new
 * enrolments first (new_enrolments says what enrol_user() does that they do too, role_copies what
 * role_assign() does).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class apply_manual_enrolments extends external_api {
    /** @var string[] user enrolment fields a row may set */
    private const FIELDS = ['status', 'timestart', 'timeend'];

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
                'status' => new external_value(PARAM_INT, '0 active, 1 suspended', VALUE_OPTIONAL),
                'timestart' => new external_value(PARAM_INT, 'Start, 0 = none', VALUE_OPTIONAL),
                'timeend' => new external_value(PARAM_INT, 'End, 0 = none', VALUE_OPTIONAL),
                'roleids' => new external_multiple_structure(
                    new external_value(PARAM_INT, 'Role id'), 'Roles to hold as manual assignments', VALUE_OPTIONAL),
            ])),
            'sendwelcome' => new external_value(PARAM_INT, '1 = send the welcome message for created enrolments',
                VALUE_DEFAULT, 0),
            'runid' => new external_value(PARAM_ALPHANUMEXT, 'Run writing (must hold the course claim); empty = none',
                VALUE_DEFAULT, ''),
            'step' => new external_value(PARAM_ALPHANUMEXT, 'Step of the run, kept in the history', VALUE_DEFAULT, ''),
        ]);
    }

    /**
     * Applies the rows in one transaction.
     *
     * @param int $courseid
     * @param array $enrolments
     * @param int $sendwelcome
     * @param string $runid
     * @param string $step
     * @return array one result per row, in request order
     */
    public static function execute(int $courseid, array $enrolments, int $sendwelcome = 0, string $runid = '',
            string $step = ''): array {
        global $DB;
        $params = self::validate_parameters(self::execute_parameters(), ['courseid' => $courseid,
            'enrolments' => $enrolments, 'sendwelcome' => $sendwelcome, 'runid' => $runid, 'step' => $step]);
        $target = course_target::load($params['courseid']);
        self::validate_context($target->context);
        require_capability('enrol/manual:enrol', $target->context);
        $instance = $target->require_manual_instance();

        $rows = $params['enrolments'];
        $userids = array_map('intval', array_column($rows, 'userid'));
        request_checks::require_unique_users($userids, $target);
        request_checks::require_real_users($userids, $target);
        $assignable = request_checks::assignable_roles(request_checks::all_roleids($rows), $target);
        $run = ['runid' => $params['runid'], 'step' => $params['step']];
        course_guard::require_valid_runid($run['runid'], $target);
        $lock = course_guard::lock($target);
        try {
            course_guard::require_writable($target, $run['runid']);
            $plans = self::plan_rows($rows, request_checks::enrolments_of($userids, $instance->id), $target);
            if (array_filter(array_column($plans, 'result'), function($result) {
                return $result === 'updated';
            })) {
                require_capability('enrol/manual:manage', $target->context);
            }
            $heldroles = request_checks::manual_roles_of($userids, $target);

            $transaction = $DB->start_delegated_transaction();
            $created = new new_enrolments($target,
                self::instance_for_new_enrolments($instance, !empty($params['sendwelcome'])));
            $roles = new role_copies($target);
            $results = [];
            $records = [];
            foreach ($plans as $plan) {
                [$results[], $records[]] = self::apply_plan($plan, $instance, $created,
                    $heldroles[$plan['userid']] ?? [], $assignable, $target, $run, $roles);
            }
            $newids = $created->write();
            $roles->write();
            history::insert_all(array_values(array_filter($records)));
            $results = self::with_new_ueids($results, $newids);
            $transaction->allow_commit();
        } finally {
            $lock->release();
        }
        return $results;
    }

    /**
     * The instance object the after_user_enrolled hook gets for new enrolments (new_enrolments).
     *
     * Since Moodle 4.4 the welcome message is not sent by enrol_user() itself: enrol_user() dispatches
     * the \core_enrol\hook\after_user_enrolled hook with the instance object it was given, and
     * enrol_manual's callback (user_enrolment_callbacks::send_course_welcome_message) sends the
     * message when that object's customint1 is set. new_enrolments dispatches the same hook; handing it
     * a copy of the instance whose customint1 is 0 (ENROL_DO_NOT_SEND_EMAIL) therefore enrols with
     * everything enrol_user() gives (events, caches, grade recovery, other hook listeners) but the
     * message, and without touching the instance row in the database, so no other request can see a
     * changed setting. Moodle 4.1 to 4.3 send no manual welcome message at all. With sendwelcome=1 the
     * real instance is used and the course's own setting decides.
     *
     * @param stdClass $instance the course's manual instance
     * @param bool $sendwelcome
     * @return stdClass
     */
    private static function instance_for_new_enrolments(stdClass $instance, bool $sendwelcome): stdClass {
        if ($sendwelcome) {
            return $instance;
        }
        $copy = clone $instance;
        $copy->customint1 = 0;
        return $copy;
    }

    /**
     * Decides per row what to write, checking status and dates before anything is written.
     *
     * @param array $rows validated request rows
     * @param array $existing [userid => user enrolment in the manual instance]
     * @param course_target $target
     * @return array plans: userid, result (created|updated|unchanged), values to write, ueid, roleids,
     *     before and after (history::enrolment_state())
     */
    private static function plan_rows(array $rows, array $existing, course_target $target): array {
        $plans = [];
        foreach ($rows as $row) {
            $plans[] = self::plan_row($row, $existing[$row['userid']] ?? null, $target);
        }
        return $plans;
    }

    /**
     * Plans one row: a new enrolment gets every value (omitted = 0); an existing one only the given values that differ.
     *
     * @param array $row
     * @param stdClass|null $ue the user's current manual enrolment
     * @param course_target $target
     * @return array
     */
    private static function plan_row(array $row, ?stdClass $ue, course_target $target): array {
        $userid = (int) $row['userid'];
        $given = array_map('intval', array_intersect_key($row, array_flip(self::FIELDS)));
        if (isset($given['status'])) {
            request_checks::require_valid_status($given['status'], $userid, $target);
        }
        $current = ['status' => 0, 'timestart' => 0, 'timeend' => 0];
        if ($ue) {
            $current = ['status' => (int) $ue->status, 'timestart' => (int) $ue->timestart, 'timeend' => (int) $ue->timeend];
        }
        $final = array_merge($current, $given);
        if (!$ue || isset($given['timestart']) || isset($given['timeend'])) {
            request_checks::require_valid_times($final['timestart'], $final['timeend'], $userid, $target);
        }
        $plan = ['userid' => $userid, 'roleids' => array_map('intval', $row['roleids'] ?? []),
            'before' => history::enrolment_state($ue), 'after' => history::enrolment_state($final)];
        if (!$ue) {
            return $plan + ['result' => 'created', 'values' => $final, 'ueid' => 0];
        }
        $changes = array_diff_assoc($final, $current);
        return $plan + ['result' => $changes ? 'updated' : 'unchanged', 'values' => $changes, 'ueid' => (int) $ue->id];
    }

    /**
     * Writes one planned row's changed enrolment, queues its new enrolment and its missing manual role assignments.
     *
     * @param array $plan from plan_row()
     * @param stdClass $instance the manual instance
     * @param new_enrolments $created where new enrolments are queued
     * @param array $heldroles [roleid => true] manual roles the user holds already
     * @param array $assignable [roleid => true] roles the caller may assign in the course
     * @param course_target $target
     * @param array $run runid and step, for the history
     * @param role_copies $roles where the role copies are queued
     * @return array the row's result (ueid 0 for a created enrolment, see with_new_ueids()) and its history row or null
     */
    private static function apply_plan(array $plan, stdClass $instance, new_enrolments $created, array $heldroles,
            array $assignable, course_target $target, array $run, role_copies $roles): array {
        $userid = $plan['userid'];
        $values = $plan['values'];
        if ($plan['result'] === 'created') {
            $created->add($userid, $values['timestart'], $values['timeend'], $values['status']);
        } else if ($plan['result'] === 'updated') {
            enrol_get_plugin('manual')->update_user_enrol($instance, $userid, $values['status'] ?? null,
                $values['timestart'] ?? null, $values['timeend'] ?? null);
        }
        $rolesbefore = array_keys($heldroles);
        $assigned = [];
        $skipped = [];
        foreach (array_unique($plan['roleids']) as $roleid) {
            if (!empty($heldroles[$roleid])) {
                continue;
            }
            if (empty($assignable[$roleid])) {
                $skipped[] = $roleid;
                continue;
            }
            $roles->add($userid, $roleid);
            $heldroles[$roleid] = true;
            $assigned[] = $roleid;
        }
        $record = history::build((int) $target->course->id, $userid, $run, $plan['before'], $plan['after'], $rolesbefore,
            array_keys($heldroles));
        return [['userid' => $userid, 'ueid' => $plan['ueid'], 'result' => $plan['result'], 'rolesassigned' => $assigned,
            'rolesskipped' => $skipped], $record];
    }

    /**
     * The results with the ids of the enrolments the call created.
     *
     * @param array $results from apply_plan()
     * @param int[] $newids [userid => id] from new_enrolments::write()
     * @return array
     */
    private static function with_new_ueids(array $results, array $newids): array {
        foreach ($results as $i => $result) {
            if ($result['result'] === 'created') {
                $results[$i]['ueid'] = $newids[$result['userid']];
            }
        }
        return $results;
    }

    /**
     * Return structure.
     *
     * @return external_multiple_structure
     */
    public static function execute_returns(): external_multiple_structure {
        return new external_multiple_structure(new external_single_structure([
            'userid' => new external_value(PARAM_INT, 'User id'),
            'ueid' => new external_value(PARAM_INT, 'Id of the manual user enrolment'),
            'result' => new external_value(PARAM_ALPHA, 'created, updated or unchanged'),
            'rolesassigned' => new external_multiple_structure(new external_value(PARAM_INT, 'Role id newly assigned')),
            'rolesskipped' => new external_multiple_structure(
                new external_value(PARAM_INT, 'Role id not assigned: the caller may not assign it in the course')),
        ]));
    }
}
