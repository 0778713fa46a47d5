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

/**
 * Reads a course's enrolment data with a few set-based queries per page (never one per user).
 *
 * A page covers the users with fromuserid < userid <= upto; upto = 0 means no upper bound.
 * The users of a course are those with a user enrolment in one of its instances or a role
 * assignment in its context.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class enrolment_reader {
    /** @var course_target */
    private $target;

    /**
     * Constructor.
     *
     * @param course_target $target
     */
    public function __construct(course_target $target) {
        $this->target = $target;
    }

    /**
     * The highest user id of the page, or 0 when the page reaches the last user.
     *
     * @param int $fromuserid exclusive lower bound
     * @param int $maxusers 0 = every user
     * @return int
     */
    public function page_upper_bound(int $fromuserid, int $maxusers): int {
        global $DB;
        if ($maxusers <= 0) {
            return 0;
        }
        $sql = "SELECT pageusers.userid
                  FROM (SELECT ue.userid
                          FROM {user_enrolments} ue
                          JOIN {enrol} e ON e.id = ue.enrolid
                         WHERE e.courseid = :courseid AND ue.userid > :from1
                         UNION
                        SELECT ra.userid
                          FROM {role_assignments} ra
                         WHERE ra.contextid = :contextid AND ra.userid > :from2) pageusers
              ORDER BY pageusers.userid";
        $params = ['courseid' => $this->target->course->id, 'contextid' => $this->target->context->id,
            'from1' => $fromuserid, 'from2' => $fromuserid];
        $userids = [];
        $rs = $DB->get_recordset_sql($sql, $params, 0, $maxusers + 1);
        foreach ($rs as $record) {
            $userids[] = (int) $record->userid;
        }
        $rs->close();
        return count($userids) > $maxusers ? $userids[$maxusers - 1] : 0;
    }

    /**
     * Every enrolment instance of the course, by sortorder then id.
     *
     * @return array rows of the 'instances' return structure
     */
    public function instances(): array {
        global $DB;
        $rows = [];
        foreach ($DB->get_records('enrol', ['courseid' => $this->target->course->id], 'sortorder, id') as $instance) {
            $customint1 = (int) ($instance->customint1 ?? 0);
            $rows[] = [
                'id' => (int) $instance->id,
                'enrol' => $instance->enrol,
                'name' => (string) ($instance->name ?? ''),
                'status' => (int) $instance->status,
                'roleid' => (int) $instance->roleid,
                'cohortid' => $instance->enrol === 'cohort' ? $customint1 : 0,
                'sendwelcome' => ($instance->enrol === 'manual' && $customint1 > 0) ? 1 : 0,
            ];
        }
        return $rows;
    }

    /**
     * The page's user enrolments, by user id then id.
     *
     * @param int $fromuserid
     * @param int $upto
     * @return array rows of the 'userenrolments' return structure
     */
    public function user_enrolments(int $fromuserid, int $upto): array {
        global $DB;
        [$usersql, $params] = $this->user_range('ue.userid', $fromuserid, $upto);
        $sql = "SELECT ue.id, ue.enrolid, e.enrol, ue.userid, u.username, ue.status, ue.timestart, ue.timeend,
                       u.suspended AS usersuspended, u.deleted AS userdeleted
                  FROM {user_enrolments} ue
                  JOIN {enrol} e ON e.id = ue.enrolid
             LEFT JOIN {user} u ON u.id = ue.userid
                 WHERE e.courseid = :courseid AND $usersql
              ORDER BY ue.userid, ue.id";
        $params['courseid'] = $this->target->course->id;
        $rows = [];
        $rs = $DB->get_recordset_sql($sql, $params);
        foreach ($rs as $ue) {
            $rows[] = [
                'id' => (int) $ue->id,
                'enrolid' => (int) $ue->enrolid,
                'enrol' => $ue->enrol,
                'userid' => (int) $ue->userid,
                'username' => (string) ($ue->username ?? ''),
                'status' => (int) $ue->status,
                'timestart' => (int) $ue->timestart,
                'timeend' => (int) $ue->timeend,
                'usersuspended' => (int) ($ue->usersuspended ?? 0),
                // A user enrolment without its user row is treated as belonging to a deleted account.
                'userdeleted' => $ue->userdeleted === null ? 1 : (int) $ue->userdeleted,
            ];
        }
        $rs->close();
        return $rows;
    }

    /**
     * The page's role assignments in the course context, by user id then id.
     *
     * @param int $fromuserid
     * @param int $upto
     * @return array rows of the 'roleassignments' return structure
     */
    public function role_assignments(int $fromuserid, int $upto): array {
        global $DB;
        [$usersql, $params] = $this->user_range('ra.userid', $fromuserid, $upto);
        $sql = "SELECT ra.id, ra.userid, ra.roleid, r.shortname AS roleshortname, ra.component, ra.itemid
                  FROM {role_assignments} ra
                  JOIN {role} r ON r.id = ra.roleid
                 WHERE ra.contextid = :contextid AND $usersql
              ORDER BY ra.userid, ra.id";
        $params['contextid'] = $this->target->context->id;
        $rows = [];
        $rs = $DB->get_recordset_sql($sql, $params);
        foreach ($rs as $ra) {
            $rows[] = [
                'id' => (int) $ra->id,
                'userid' => (int) $ra->userid,
                'roleid' => (int) $ra->roleid,
                'roleshortname' => $ra->roleshortname,
                'component' => (string) $ra->component,
                'itemid' => (int) $ra->itemid,
            ];
        }
        $rs->close();
        return $rows;
    }

    /**
     * The page's role assignments in the course's parent contexts (categories, system), by user id then id.
     *
     * Only for users enrolled in the course (by any method): Moodle's Participants "Roles" filter counts
     * these (participants_search::get_roles_sql() looks in $context->get_parent_context_ids(true)).
     * They are never course role assignments: a caller must not back them up or take them for manual copies.
     *
     * @param int $fromuserid
     * @param int $upto
     * @return array rows of the 'inheritedroleassignments' return structure
     */
    public function inherited_role_assignments(int $fromuserid, int $upto): array {
        global $DB;
        $parents = $this->target->context->get_parent_context_ids(false);
        if (!$parents) {
            return [];
        }
        [$usersql, $params] = $this->user_range('ra.userid', $fromuserid, $upto);
        [$contextsql, $contextparams] = $DB->get_in_or_equal($parents, SQL_PARAMS_NAMED, 'parentctx');
        $sql = "SELECT ra.id, ra.userid, ra.roleid, r.shortname AS roleshortname, ra.contextid, ctx.contextlevel
                  FROM {role_assignments} ra
                  JOIN {role} r ON r.id = ra.roleid
                  JOIN {context} ctx ON ctx.id = ra.contextid
                 WHERE ra.contextid $contextsql AND $usersql
                       AND EXISTS (SELECT 1
                                     FROM {user_enrolments} ue
                                     JOIN {enrol} e ON e.id = ue.enrolid
                                    WHERE e.courseid = :courseid AND ue.userid = ra.userid)
              ORDER BY ra.userid, ra.id";
        $params += $contextparams;
        $params['courseid'] = $this->target->course->id;
        $rows = [];
        $rs = $DB->get_recordset_sql($sql, $params);
        foreach ($rs as $ra) {
            $rows[] = [
                'id' => (int) $ra->id,
                'userid' => (int) $ra->userid,
                'roleid' => (int) $ra->roleid,
                'roleshortname' => $ra->roleshortname,
                'contextid' => (int) $ra->contextid,
                'contextlevel' => (int) $ra->contextlevel,
            ];
        }
        $rs->close();
        return $rows;
    }

    /**
     * Ids of the roles the calling user may assign in the course (empty without moodle/role:assign).
     *
     * Moodle's get_assignable_roles(): roles whose context levels include the course and that the
     * caller's roles may assign (Define roles > Allow role assignments); every such role for a site admin.
     *
     * @return int[]
     */
    public function assignable_roles(): array {
        return array_map('intval', array_keys(get_assignable_roles($this->target->context, ROLENAME_SHORT)));
    }

    /**
     * Every role of the site, with its name as shown in the site (not a course's alias).
     *
     * @return array rows of the 'roles' return structure
     */
    public function roles(): array {
        $rows = [];
        foreach (get_all_roles() as $role) {
            $rows[] = [
                'id' => (int) $role->id,
                'shortname' => $role->shortname,
                'name' => role_get_name($role, null, ROLENAME_ORIGINAL),
            ];
        }
        return $rows;
    }

    /**
     * SQL condition for the page's user range.
     *
     * @param string $field qualified user id column
     * @param int $fromuserid exclusive lower bound
     * @param int $upto inclusive upper bound, 0 = none
     * @return array [sql, params]
     */
    private function user_range(string $field, int $fromuserid, int $upto): array {
        $sql = "$field > :fromuserid";
        $params = ['fromuserid' => $fromuserid];
        if ($upto > 0) {
            $sql .= " AND $field <= :upto";
            $params['upto'] = $upto;
        }
        return [$sql, $params];
    }
}
