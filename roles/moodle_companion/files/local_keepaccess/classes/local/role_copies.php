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
 * The manual role copies (component '', item id 0) one write call gives, written together.
 *
 * Each assignment gets exactly what core's role_assign() gives it: the role_assignments row (time
 * modified now, modifier the caller, sort order 0), the user marked dirty so their access is rebuilt
 * (mark_user_dirty()'s cache flag, written for all users together),
 * the course category caches told that the course's role assignments changed, the
 * \core\event\role_assigned event with the row's snapshot (its observers and the logs) and, from
 * Moodle 4.4, the \core\hook\access\after_role_assigned hook. What is done once per call instead of
 * once per row: the check that the users exist and are not deleted (one query), the insert (one
 * multi-row insert, ids read back in one query), the users' dirty flags (one read, one update, one
 * insert), and core_course_category::role_assignment_changed(),
 * which only purges caches and so has the same effect once per role as once per row (profiled on
 * Moodle 4.5 with 2,000 rows: a quarter of the call's time went to purging the same cache 2,000 times).
 * Assignments the user already holds are never queued (the caller reads them under the course lock).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class role_copies {
    /** @var course_target the course */
    private $target;

    /** @var array [[userid, roleid]] in request order */
    private $pending = [];

    /**
     * Constructor.
     *
     * @param course_target $target
     */
    public function __construct(course_target $target) {
        $this->target = $target;
    }

    /**
     * Queues a manual assignment of a role the user does not hold yet.
     *
     * @param int $userid
     * @param int $roleid
     */
    public function add(int $userid, int $roleid): void {
        $this->pending[] = [$userid, $roleid];
    }

    /**
     * Writes every queued assignment as role_assign() does, inside the caller's transaction.
     *
     * @throws moodle_exception deleteduser, unknownuser
     */
    public function write(): void {
        global $DB, $USER;
        if (!$this->pending) {
            return;
        }
        $context = $this->target->context;
        $userids = array_values(array_unique(array_column($this->pending, 0)));
        $this->require_live_users($userids);
        $now = time();
        $modifierid = empty($USER->id) ? 0 : (int) $USER->id;
        $records = [];
        foreach ($this->pending as [$userid, $roleid]) {
            $records[] = (object) ['roleid' => $roleid, 'contextid' => $context->id, 'userid' => $userid,
                'component' => '', 'itemid' => 0, 'timemodified' => $now, 'modifierid' => $modifierid, 'sortorder' => 0];
        }
        $DB->insert_records('role_assignments', $records);
        $ids = $this->ids_of($userids);
        self::mark_users_dirty($userids);
        foreach (array_unique(array_column($this->pending, 1)) as $roleid) {
            \core_course_category::role_assignment_changed($roleid, $context);
        }
        foreach ($records as $ra) {
            $ra->id = $ids[$ra->userid][$ra->roleid];
            $this->announce($ra);
        }
        $this->pending = [];
    }

    /**
     * mark_user_dirty() of every user, in three queries instead of two per user.
     *
     * mark_user_dirty() sets the cache flag 'accesslib/dirtyusers' of the user (set_cache_flag(): value 1,
     * expiry now + the session timeout, time modified now; updated when the flag exists, else inserted), so
     * that the user's access is rebuilt at their next request, and forgets the user's access in this
     * request. Here: the users' existing flags read in one query, updated in one, the others inserted in
     * one, then the same request-local changes per user.
     *
     * @param int[] $userids distinct user ids
     */
    private static function mark_users_dirty(array $userids): void {
        global $CFG, $DB, $ACCESSLIB_PRIVATE;
        $now = time();
        $expiry = $now + (int) $CFG->sessiontimeout;
        if ($expiry < $now) {
            $expiry = $now + DAYSECS;        // as set_cache_flag() does with an expiry in the past
        }
        $flagtype = 'accesslib/dirtyusers';
        $names = array_map('strval', $userids);
        [$insql, $params] = $DB->get_in_or_equal($names, SQL_PARAMS_NAMED, 'flagname');
        $params['flagtype'] = $flagtype;
        $existing = $DB->get_fieldset_select('cache_flags', 'name', "flagtype = :flagtype AND name $insql", $params);
        if ($existing) {
            $DB->execute("UPDATE {cache_flags} SET value = :value, expiry = :expiry, timemodified = :timemodified
                           WHERE flagtype = :flagtype AND name $insql",
                $params + ['value' => '1', 'expiry' => $expiry, 'timemodified' => $now]);
        }
        $flags = [];
        foreach (array_diff($names, $existing) as $name) {
            $flags[] = (object) ['flagtype' => $flagtype, 'name' => $name, 'value' => '1', 'expiry' => $expiry,
                'timemodified' => $now];
        }
        if ($flags) {
            $DB->insert_records('cache_flags', $flags);
        }
        foreach ($userids as $userid) {
            $ACCESSLIB_PRIVATE->dirtyusers[$userid] = 1;
            unset($ACCESSLIB_PRIVATE->accessdatabyuser[$userid]);
        }
    }

    /**
     * role_assign()'s event and hook for one new assignment.
     *
     * @param \stdClass $ra the role_assignments row
     */
    private function announce(\stdClass $ra): void {
        $event = \core\event\role_assigned::create([
            'context' => $this->target->context,
            'objectid' => $ra->roleid,
            'relateduserid' => $ra->userid,
            'other' => ['id' => $ra->id, 'component' => $ra->component, 'itemid' => $ra->itemid],
        ]);
        $event->add_record_snapshot('role_assignments', $ra);
        $event->trigger();
        if (class_exists('\core\hook\access\after_role_assigned')) {
            $hook = new \core\hook\access\after_role_assigned($this->target->context, (int) $ra->userid);
            \core\di::get(\core\hook\manager::class)->dispatch($hook);
        }
    }

    /**
     * Fails unless every user exists and is not deleted (role_assign() refuses them too).
     *
     * @param int[] $userids
     * @throws moodle_exception unknownuser, deleteduser
     */
    private function require_live_users(array $userids): void {
        global $DB;
        $found = $DB->get_records_list('user', 'id', $userids, '', 'id, deleted');
        foreach ($userids as $userid) {
            if (!isset($found[$userid])) {
                throw new moodle_exception('unknownuser', 'local_keepaccess', '', $this->target->about_user($userid));
            }
            if (!empty($found[$userid]->deleted)) {
                throw new moodle_exception('deleteduser', 'local_keepaccess', '', $this->target->about_user($userid));
            }
        }
    }

    /**
     * Ids of the users' manual assignments in the course, newest per user and role.
     *
     * @param int[] $userids
     * @return array [userid => [roleid => id]]
     */
    private function ids_of(array $userids): array {
        global $DB;
        [$insql, $params] = $DB->get_in_or_equal($userids, SQL_PARAMS_NAMED, 'uid');
        $params += ['contextid' => $this->target->context->id, 'component' => ''];
        $rs = $DB->get_recordset_select('role_assignments',
            "contextid = :contextid AND component = :component AND itemid = 0 AND userid $insql", $params, 'id',
            'id, userid, roleid');
        $ids = [];
        foreach ($rs as $ra) {
            $ids[$ra->userid][$ra->roleid] = (int) $ra->id;
        }
        $rs->close();
        return $ids;
    }
}
