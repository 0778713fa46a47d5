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

use core_date;
use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_multiple_structure;
use core_external\external_single_structure;
use core_external\external_value;
use local_keepaccess\local\course_target;
use local_keepaccess\local\enrolment_reader;
use moodle_exception;

/**
 * local_keepaccess_get_course_enrolments: a course's instances, user enrolments and role assignments.
 *
 * Also the role assignments its users hold in parent contexts (category, system) and the roles the
 * caller may assign in the course (since version 2026120100).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class get_course_enrolments extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'fromuserid' => new external_value(PARAM_INT, 'Return users with a larger id than this (paging)', VALUE_DEFAULT, 0),
            'maxusers' => new external_value(PARAM_INT, 'Largest number of users on this page, 0 = all', VALUE_DEFAULT, 0),
        ]);
    }

    /**
     * Reads one page of the course's enrolment data.
     *
     * @param int $courseid
     * @param int $fromuserid
     * @param int $maxusers
     * @return array
     */
    public static function execute(int $courseid, int $fromuserid = 0, int $maxusers = 0): array {
        $params = self::validate_parameters(self::execute_parameters(),
            ['courseid' => $courseid, 'fromuserid' => $fromuserid, 'maxusers' => $maxusers]);
        if ($params['fromuserid'] < 0 || $params['maxusers'] < 0) {
            throw new moodle_exception('invalidpaging', 'local_keepaccess', '', (object) $params);
        }
        $target = course_target::load($params['courseid']);
        self::validate_context($target->context);
        require_capability('moodle/course:enrolreview', $target->context);

        $reader = new enrolment_reader($target);
        $upto = $reader->page_upper_bound($params['fromuserid'], $params['maxusers']);
        return [
            'course' => [
                'id' => (int) $target->course->id,
                'shortname' => $target->course->shortname,
                'idnumber' => (string) $target->course->idnumber,
                'fullname' => $target->course->fullname,
            ],
            'instances' => $reader->instances(),
            'userenrolments' => $reader->user_enrolments($params['fromuserid'], $upto),
            'roleassignments' => $reader->role_assignments($params['fromuserid'], $upto),
            'inheritedroleassignments' => $reader->inherited_role_assignments($params['fromuserid'], $upto),
            'roles' => $reader->roles(),
            'assignableroles' => $reader->assignable_roles(),
            'timezone' => core_date::get_server_timezone(),
            'pluginversion' => (int) get_config('local_keepaccess', 'version'),
            'nextfromuserid' => $upto,
        ];
    }

    /**
     * Return structure.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'course' => new external_single_structure([
                'id' => new external_value(PARAM_INT, 'Course id'),
                'shortname' => new external_value(PARAM_RAW, 'Short name'),
                'idnumber' => new external_value(PARAM_RAW, 'ID number'),
                'fullname' => new external_value(PARAM_RAW, 'Full name'),
            ]),
            'instances' => new external_multiple_structure(new external_single_structure([
                'id' => new external_value(PARAM_INT, 'Enrolment instance id'),
                'enrol' => new external_value(PARAM_PLUGIN, 'Enrolment plugin, e.g. manual, database, cohort'),
                'name' => new external_value(PARAM_RAW, 'Instance name, may be empty'),
                'status' => new external_value(PARAM_INT, '0 enabled, 1 disabled'),
                'roleid' => new external_value(PARAM_INT, 'Default role id'),
                'cohortid' => new external_value(PARAM_INT, 'Cohort id for cohort sync, else 0'),
                'sendwelcome' => new external_value(PARAM_INT, '1 when a manual instance sends the welcome message'),
            ])),
            'userenrolments' => new external_multiple_structure(new external_single_structure([
                'id' => new external_value(PARAM_INT, 'User enrolment id'),
                'enrolid' => new external_value(PARAM_INT, 'Enrolment instance id'),
                'enrol' => new external_value(PARAM_PLUGIN, 'Enrolment plugin'),
                'userid' => new external_value(PARAM_INT, 'User id'),
                'username' => new external_value(PARAM_RAW, 'Username'),
                'status' => new external_value(PARAM_INT, '0 active, 1 suspended'),
                'timestart' => new external_value(PARAM_INT, 'Start, 0 = none'),
                'timeend' => new external_value(PARAM_INT, 'End, 0 = none'),
                'usersuspended' => new external_value(PARAM_INT, '1 when the user account is suspended'),
                'userdeleted' => new external_value(PARAM_INT, '1 when the user account is deleted'),
            ])),
            'roleassignments' => new external_multiple_structure(new external_single_structure([
                'id' => new external_value(PARAM_INT, 'Role assignment id'),
                'userid' => new external_value(PARAM_INT, 'User id'),
                'roleid' => new external_value(PARAM_INT, 'Role id'),
                'roleshortname' => new external_value(PARAM_RAW, 'Role short name'),
                'component' => new external_value(PARAM_RAW, 'Owning component, empty for manual assignments'),
                'itemid' => new external_value(PARAM_INT, 'Item id in the component, e.g. enrolment instance id'),
            ])),
            'inheritedroleassignments' => new external_multiple_structure(new external_single_structure([
                'id' => new external_value(PARAM_INT, 'Role assignment id'),
                'userid' => new external_value(PARAM_INT, 'User id, enrolled in the course'),
                'roleid' => new external_value(PARAM_INT, 'Role id'),
                'roleshortname' => new external_value(PARAM_RAW, 'Role short name'),
                'contextid' => new external_value(PARAM_INT, 'Parent context of the course holding the assignment'),
                'contextlevel' => new external_value(PARAM_INT, 'Its level: 40 category, 10 system'),
            ]), 'Role assignments in the course\'s parent contexts (they apply in the course; never course ones)'),
            'roles' => new external_multiple_structure(new external_single_structure([
                'id' => new external_value(PARAM_INT, 'Role id'),
                'shortname' => new external_value(PARAM_RAW, 'Role short name'),
                'name' => new external_value(PARAM_RAW, 'Role name'),
            ])),
            'assignableroles' => new external_multiple_structure(
                new external_value(PARAM_INT, 'Role id'), 'Roles the caller may assign in the course'),
            'timezone' => new external_value(PARAM_RAW, 'Server timezone'),
            'pluginversion' => new external_value(PARAM_INT, 'Installed version of local_keepaccess'),
            'nextfromuserid' => new external_value(PARAM_INT, '0 on the last page, else the fromuserid of the next page'),
        ]);
    }
}
