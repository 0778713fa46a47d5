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
 * local_keepaccess_claim_course: claims a course for one run, or renews the run's claim.
 *
 * While the claim lasts, writes of any other run (or of none) are refused (course_guard).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class claim_course extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'runid' => new external_value(PARAM_ALPHANUMEXT, 'Run claiming the course'),
            'seconds' => new external_value(PARAM_INT, 'How long the claim lasts from now', VALUE_DEFAULT, 600),
        ]);
    }

    /**
     * Claims the course.
     *
     * @param int $courseid
     * @param string $runid
     * @param int $seconds
     * @return array
     */
    public static function execute(int $courseid, string $runid, int $seconds = 600): array {
        $params = self::validate_parameters(self::execute_parameters(),
            ['courseid' => $courseid, 'runid' => $runid, 'seconds' => $seconds]);
        $target = course_target::load($params['courseid']);
        self::validate_context($target->context);
        require_capability('enrol/manual:enrol', $target->context);
        course_guard::require_valid_runid($params['runid'], $target);
        return course_guard::claim($target, $params['runid'], $params['seconds']);
    }

    /**
     * Return structure.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'runid' => new external_value(PARAM_ALPHANUMEXT, 'Run holding the course'),
            'timeexpires' => new external_value(PARAM_INT, 'The claim ends at this time unless renewed'),
            'renewed' => new external_value(PARAM_INT, '1 when the run already held the course'),
        ]);
    }
}
