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
use local_keepaccess\local\course_target;
use local_keepaccess\local\history;

/**
 * local_keepaccess_get_course_history: what the service's writes changed in a course, oldest first, paged by id.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class get_course_history extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'fromid' => new external_value(PARAM_INT, 'Only records with a greater id', VALUE_DEFAULT, 0),
            'maxrecords' => new external_value(PARAM_INT, 'Records per page, 0 = all', VALUE_DEFAULT, 0),
        ]);
    }

    /**
     * One page of the course's history.
     *
     * @param int $courseid
     * @param int $fromid
     * @param int $maxrecords
     * @return array
     */
    public static function execute(int $courseid, int $fromid = 0, int $maxrecords = 0): array {
        $params = self::validate_parameters(self::execute_parameters(),
            ['courseid' => $courseid, 'fromid' => $fromid, 'maxrecords' => $maxrecords]);
        if ($params['fromid'] < 0 || $params['maxrecords'] < 0) {
            throw new \moodle_exception('invalidhistorypaging', 'local_keepaccess', '', (object) ['courseid' => $courseid,
                'fromid' => $params['fromid'], 'maxrecords' => $params['maxrecords']]);
        }
        $target = course_target::load($params['courseid']);
        self::validate_context($target->context);
        require_capability('moodle/course:enrolreview', $target->context);
        $records = history::of_course((int) $target->course->id, $params['fromid'], $params['maxrecords']);
        $full = $params['maxrecords'] && count($records) == $params['maxrecords'];
        return ['records' => $records, 'nextfromid' => $full ? end($records)['id'] : 0];
    }

    /**
     * Return structure.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'records' => new external_multiple_structure(new external_single_structure([
                'id' => new external_value(PARAM_INT, 'Record id'),
                'courseid' => new external_value(PARAM_INT, 'Course id'),
                'userid' => new external_value(PARAM_INT, 'User id'),
                'runid' => new external_value(PARAM_ALPHANUMEXT, 'Run that wrote (empty: none named)'),
                'step' => new external_value(PARAM_ALPHANUMEXT, 'Step of the run'),
                'hadbefore' => new external_value(PARAM_INT, '1 when the user had a manual enrolment before'),
                'statusbefore' => new external_value(PARAM_INT, 'Status before'),
                'timestartbefore' => new external_value(PARAM_INT, 'Start before'),
                'timeendbefore' => new external_value(PARAM_INT, 'End before, 0 = none'),
                'hasafter' => new external_value(PARAM_INT, '1 when the user has a manual enrolment after'),
                'statusafter' => new external_value(PARAM_INT, 'Status after'),
                'timestartafter' => new external_value(PARAM_INT, 'Start after'),
                'timeendafter' => new external_value(PARAM_INT, 'End after, 0 = none'),
                'rolesbefore' => new external_value(PARAM_SEQUENCE, 'Manual role ids held before, comma-separated'),
                'rolesafter' => new external_value(PARAM_SEQUENCE, 'Manual role ids held after, comma-separated'),
                'timecreated' => new external_value(PARAM_INT, 'When the change was applied'),
            ])),
            'nextfromid' => new external_value(PARAM_INT, 'fromid of the next page, 0 = last page'),
        ]);
    }
}
