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

use context_course;
use moodle_exception;
use stdClass;

/**
 * Finds the course a call works on and the manual enrolment instance it uses.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class course_target {
    /** @var stdClass the course record */
    public $course;

    /** @var context_course the course context */
    public $context;

    /**
     * Private: use {@see self::load()}.
     *
     * @param stdClass $course
     * @param context_course $context
     */
    private function __construct(stdClass $course, context_course $context) {
        $this->course = $course;
        $this->context = $context;
    }

    /**
     * Loads a course by id; the site front page is not a course here.
     *
     * @param int $courseid
     * @return self
     * @throws moodle_exception coursenotfound
     */
    public static function load(int $courseid): self {
        global $DB;
        $course = ($courseid == SITEID) ? false : $DB->get_record('course', ['id' => $courseid]);
        if (!$course) {
            throw new moodle_exception('coursenotfound', 'local_keepaccess', '', $courseid);
        }
        return new self($course, context_course::instance($course->id));
    }

    /**
     * The course's manual instances, first by sortorder then id.
     *
     * @return stdClass[]
     */
    public function manual_instances(): array {
        global $DB;
        return array_values($DB->get_records('enrol', ['courseid' => $this->course->id, 'enrol' => 'manual'], 'sortorder, id'));
    }

    /**
     * The course's first enabled manual instance, the one manual enrolments go to.
     *
     * Same choice as Moodle's enrol_manual_enrol_users: an enabled instance of a plugin enabled on the site.
     *
     * @return stdClass
     * @throws moodle_exception nomanualinstance
     */
    public function require_manual_instance(): stdClass {
        $instance = $this->find_manual_instance();
        if ($instance === null) {
            throw new moodle_exception('nomanualinstance', 'local_keepaccess', '', $this->course->id);
        }
        return $instance;
    }

    /**
     * The course's first enabled manual instance, or null when it has none.
     *
     * @return stdClass|null
     */
    public function find_manual_instance(): ?stdClass {
        foreach (enrol_get_instances($this->course->id, true) as $instance) {
            if ($instance->enrol === 'manual') {
                return $instance;
            }
        }
        return null;
    }

    /**
     * Parameters for error strings that name a user in this course.
     *
     * @param int $userid
     * @param array $extra more placeholders
     * @return stdClass
     */
    public function about_user(int $userid, array $extra = []): stdClass {
        return (object) (['userid' => $userid, 'courseid' => (int) $this->course->id] + $extra);
    }
}
