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
use core_external\external_single_structure;
use core_external\external_value;
use local_keepaccess\local\course_guard;
use local_keepaccess\local\course_target;

/**
 * local_keepaccess_release_course: ends a run's claim on a course.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class release_course extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'runid' => new external_value(PARAM_ALPHANUMEXT, 'Run releasing the course'),
        ]);
    }

    /**
     * Releases the run's claim; another run's claim is left alone.
     *
     * @param int $courseid
     * @param string $runid
     * @return array
     */
    public static function execute(int $courseid, string $runid): array {
        $params = self::validate_parameters(self::execute_parameters(), ['courseid' => $courseid, 'runid' => $runid]);
        $target = course_target::load($params['courseid']);
        self::validate_context($target->context);
        require_capability('enrol/manual:enrol', $target->context);
        return ['courseid' => (int) $target->course->id,
            'released' => course_guard::release($target, $params['runid']) ? 1 : 0];
    }

    /**
     * Return structure.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'released' => new external_value(PARAM_INT, '1 when the run held the course and no longer does'),
        ]);
    }
}
