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

use stdClass;

/**
 * The new manual enrolments one write call creates, written together.
 *
 * Each enrolment gets exactly what core's enrol_plugin::enrol_user() gives a new one (called without a
 * role, as the write call does: its roles are role_copies): the user_enrolments row (status, start and
 * end as planned, modifier the caller, created and modified now), the \core\event\user_enrolment_created
 * event (its observers and the logs), core_course_category::user_enrolment_changed() (the course
 * contacts cache), from Moodle 4.4 the \core_enrol\hook\after_user_enrolled hook with the instance
 * object given (whose customint1 decides enrol_manual's welcome message), the grade recovery when the
 * site recovers grades by default, and the caller's own enrolment cache reset. What is done once per
 * call instead of once per row: the check that the user has no enrolment in the instance yet (the
 * caller read them under the course lock), and the insert (one multi-row insert, ids read back in one
 * query). Events and hooks follow in request order, each enrolment's before its role copies' (written
 * after every enrolment, as enrol_user() assigns a role after its event).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class new_enrolments {
    /** @var course_target the course */
    private $target;

    /** @var stdClass the manual instance object, as enrol_user() is given it (see
     * apply_manual_enrolments::instance_for_new_enrolments()): its id, and the hook gets it */
    private $instance;

    /** @var array [userid => [timestart, timeend, status]] in request order */
    private $pending = [];

    /**
     * Constructor.
     *
     * @param course_target $target
     * @param stdClass $instance the course's manual instance, or the copy whose settings the hook is to see
     */
    public function __construct(course_target $target, stdClass $instance) {
        $this->target = $target;
        $this->instance = $instance;
    }

    /**
     * Queues the enrolment of a user who has none in the instance.
     *
     * @param int $userid
     * @param int $timestart
     * @param int $timeend
     * @param int $status
     */
    public function add(int $userid, int $timestart, int $timeend, int $status): void {
        $this->pending[$userid] = [$timestart, $timeend, $status];
    }

    /**
     * Writes every queued enrolment as enrol_user() does, inside the caller's transaction.
     *
     * @return int[] [userid => id of the new user enrolment]
     */
    public function write(): array {
        global $DB, $USER;
        if (!$this->pending) {
            return [];
        }
        $now = time();
        $modifierid = empty($USER->id) ? 0 : (int) $USER->id;
        $records = [];
        foreach ($this->pending as $userid => [$timestart, $timeend, $status]) {
            $records[] = (object) ['enrolid' => (int) $this->instance->id, 'status' => $status, 'userid' => $userid,
                'timestart' => $timestart, 'timeend' => $timeend, 'modifierid' => $modifierid, 'timecreated' => $now,
                'timemodified' => $now];
        }
        $DB->insert_records('user_enrolments', $records);
        $ids = $this->ids_of(array_keys($this->pending));
        foreach ($records as $ue) {
            $ue->id = $ids[$ue->userid];
            $this->announce($ue);
        }
        $this->pending = [];
        return $ids;
    }

    /**
     * What enrol_user() does after inserting a new enrolment.
     *
     * @param stdClass $ue the user_enrolments row
     */
    private function announce(stdClass $ue): void {
        global $CFG, $USER;
        $courseid = (int) $this->target->course->id;
        $event = \core\event\user_enrolment_created::create([
            'objectid' => $ue->id,
            'courseid' => $courseid,
            'context' => $this->target->context,
            'relateduserid' => $ue->userid,
            'other' => ['enrol' => 'manual'],
        ]);
        $event->trigger();
        \core_course_category::user_enrolment_changed($courseid, $ue->userid, $ue->status, $ue->timestart, $ue->timeend);
        if (class_exists('\core_enrol\hook\after_user_enrolled')) {
            $hook = new \core_enrol\hook\after_user_enrolled($this->instance, $ue);
            \core\di::get(\core\hook\manager::class)->dispatch($hook);
        }
        if (!empty($CFG->recovergradesdefault)) {
            require_once($CFG->libdir . '/gradelib.php');
            grade_recover_history_grades($ue->userid, $courseid);
        }
        if ($ue->userid == $USER->id) {
            if (isset($USER->enrol['enrolled'][$courseid])) {
                unset($USER->enrol['enrolled'][$courseid]);
            }
            if (isset($USER->enrol['tempguest'][$courseid])) {
                unset($USER->enrol['tempguest'][$courseid]);
                remove_temp_course_roles($this->target->context);
            }
        }
    }

    /**
     * Ids of the users' enrolments in the instance.
     *
     * @param int[] $userids
     * @return int[] [userid => id]
     */
    private function ids_of(array $userids): array {
        $ids = [];
        foreach (request_checks::enrolments_of($userids, (int) $this->instance->id) as $userid => $ue) {
            $ids[$userid] = (int) $ue->id;
        }
        return $ids;
    }
}
