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

namespace local_keepaccess\local;

use moodle_exception;

/**
 * Checks every row of a write request before anything is written.
 *
 * Each failed check throws a moodle_exception whose message names the user, role and course,
 * so a caller never meets a PHP error (for example Moodle's TypeError on an unknown user id).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class request_checks {
    /**
     * Fails when a user id appears twice.
     *
     * @param int[] $userids in request order
     * @param course_target $target
     * @throws moodle_exception duplicateuser
     */
    public static function require_unique_users(array $userids, course_target $target): void {
        $seen = [];
        foreach ($userids as $userid) {
            if (isset($seen[$userid])) {
                throw new moodle_exception('duplicateuser', 'local_keepaccess', '', $target->about_user($userid));
            }
            $seen[$userid] = true;
        }
    }

    /**
     * Fails unless every user exists, is not deleted and is not the guest user.
     *
     * @param int[] $userids
     * @param course_target $target
     * @throws moodle_exception unknownuser, deleteduser, guestuser
     */
    public static function require_real_users(array $userids, course_target $target): void {
        global $DB, $CFG;
        $found = $userids ? $DB->get_records_list('user', 'id', $userids, '', 'id, deleted') : [];
        foreach ($userids as $userid) {
            if (!isset($found[$userid])) {
                throw new moodle_exception('unknownuser', 'local_keepaccess', '', $target->about_user($userid));
            }
            if (!empty($found[$userid]->deleted)) {
                throw new moodle_exception('deleteduser', 'local_keepaccess', '', $target->about_user($userid));
            }
            if ($userid == $CFG->siteguest) {
                throw new moodle_exception('guestuser', 'local_keepaccess', '', $target->about_user($userid));
            }
        }
    }

    /**
     * Fails unless the caller may assign every role in the course.
     *
     * Checks moodle/role:assign first (a clear nopermissions error), then that each role exists,
     * may be assigned at course level and is allowed to the caller by "Allow role assignments".
     *
     * @param int[] $roleids
     * @param course_target $target
     * @throws moodle_exception cannotassignrole
     */
    public static function require_assignable_roles(array $roleids, course_target $target): void {
        if (!$roleids) {
            return;
        }
        require_capability('moodle/role:assign', $target->context);
        $assignable = get_assignable_roles($target->context, ROLENAME_SHORT);
        foreach ($roleids as $roleid) {
            if (!isset($assignable[$roleid])) {
                $a = (object) ['roleid' => $roleid, 'courseid' => (int) $target->course->id];
                throw new moodle_exception('cannotassignrole', 'local_keepaccess', '', $a);
            }
        }
    }

    /**
     * The roles among $roleids that the caller may assign in the course, as [roleid => true].
     *
     * get_assignable_roles() answers nothing without moodle/role:assign; a role that does not exist,
     * cannot be assigned in a course or is not allowed by "Allow role assignments" is left out.
     *
     * @param int[] $roleids
     * @param course_target $target
     * @return array
     */
    public static function assignable_roles(array $roleids, course_target $target): array {
        if (!$roleids) {
            return [];
        }
        $assignable = get_assignable_roles($target->context, ROLENAME_SHORT);
        return array_fill_keys(array_values(array_intersect($roleids, array_keys($assignable))), true);
    }

    /**
     * Fails unless a user enrolment status is 0 (active) or 1 (suspended).
     *
     * @param int $status
     * @param int $userid
     * @param course_target $target
     * @throws moodle_exception invalidstatus
     */
    public static function require_valid_status(int $status, int $userid, course_target $target): void {
        if ($status !== ENROL_USER_ACTIVE && $status !== ENROL_USER_SUSPENDED) {
            throw new moodle_exception('invalidstatus', 'local_keepaccess', '',
                $target->about_user($userid, ['status' => $status]));
        }
    }

    /**
     * Fails when an end date is set and lies before the start date.
     *
     * @param int $timestart
     * @param int $timeend 0 = no end
     * @param int $userid
     * @param course_target $target
     * @throws moodle_exception invalidtimes
     */
    public static function require_valid_times(int $timestart, int $timeend, int $userid, course_target $target): void {
        if ($timestart < 0 || $timeend < 0 || ($timeend != 0 && $timeend < $timestart)) {
            throw new moodle_exception('invalidtimes', 'local_keepaccess', '',
                $target->about_user($userid, ['timestart' => $timestart, 'timeend' => $timeend]));
        }
    }

    /**
     * Every distinct role id of the request rows.
     *
     * @param array $rows request rows with optional 'roleids'
     * @return int[]
     */
    public static function all_roleids(array $rows): array {
        $roleids = [];
        foreach ($rows as $row) {
            foreach ($row['roleids'] ?? [] as $roleid) {
                $roleids[$roleid] = (int) $roleid;
            }
        }
        return array_values($roleids);
    }

    /**
     * The manual (component '', itemid 0) role assignments these users hold in the course.
     *
     * @param int[] $userids
     * @param course_target $target
     * @return array [userid => [roleid => true]]
     */
    public static function manual_roles_of(array $userids, course_target $target): array {
        global $DB;
        if (!$userids) {
            return [];
        }
        [$insql, $params] = $DB->get_in_or_equal($userids, SQL_PARAMS_NAMED, 'uid');
        $params += ['contextid' => $target->context->id, 'component' => '', 'itemid' => 0];
        $rs = $DB->get_recordset_select('role_assignments',
            "contextid = :contextid AND component = :component AND itemid = :itemid AND userid $insql",
            $params, '', 'id, userid, roleid');
        $held = [];
        foreach ($rs as $ra) {
            $held[$ra->userid][$ra->roleid] = true;
        }
        $rs->close();
        return $held;
    }

    /**
     * These users' enrolments in one enrolment instance.
     *
     * @param int[] $userids
     * @param int $instanceid
     * @return array [userid => user_enrolments record]
     */
    public static function enrolments_of(array $userids, int $instanceid): array {
        global $DB;
        if (!$userids) {
            return [];
        }
        [$insql, $params] = $DB->get_in_or_equal($userids, SQL_PARAMS_NAMED, 'uid');
        $params['enrolid'] = $instanceid;
        $byuser = [];
        foreach ($DB->get_records_select('user_enrolments', "enrolid = :enrolid AND userid $insql", $params) as $ue) {
            $byuser[$ue->userid] = $ue;
        }
        return $byuser;
    }
}
