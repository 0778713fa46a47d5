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

/**
 * Web-service functions and the ready-made service keep_access.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$functions = [
    'local_keepaccess_get_course_enrolments' => [
        'classname'    => 'local_keepaccess\external\get_course_enrolments',
        'methodname'   => 'execute',
        'description'  => 'Every enrolment instance, user enrolment and course role assignment of one course, paged by user.',
        'type'         => 'read',
        'capabilities' => 'moodle/course:enrolreview',
        'ajax'         => false,
    ],
    'local_keepaccess_apply_manual_enrolments' => [
        'classname'    => 'local_keepaccess\external\apply_manual_enrolments',
        'methodname'   => 'execute',
        'description'  => 'Creates or updates manual enrolments and manual role assignments in one course, in one transaction, '
            . 'without welcome messages unless asked.',
        'type'         => 'write',
        'capabilities' => 'enrol/manual:enrol, enrol/manual:manage, moodle/role:assign',
        'ajax'         => false,
    ],
    'local_keepaccess_remove_manual_enrolments' => [
        'classname'    => 'local_keepaccess\external\remove_manual_enrolments',
        'methodname'   => 'execute',
        'description'  => 'Removes manual role assignments and manual enrolments in one course, in one transaction.',
        'type'         => 'write',
        'capabilities' => 'enrol/manual:unenrol, moodle/role:assign',
        'ajax'         => false,
    ],
    'local_keepaccess_ensure_manual_instance' => [
        'classname'    => 'local_keepaccess\external\ensure_manual_instance',
        'methodname'   => 'execute',
        'description'  => 'Makes sure a course has an enabled manual enrolment instance (welcome message off when created).',
        'type'         => 'write',
        'capabilities' => 'moodle/course:enrolconfig, enrol/manual:config',
        'ajax'         => false,
    ],
    'local_keepaccess_get_course_history' => [
        'classname'    => 'local_keepaccess\external\get_course_history',
        'methodname'   => 'execute',
        'description'  => 'What the keep_access writes changed in one course (enrolment and roles before and after, run, step, '
            . 'time), oldest first, paged by id.',
        'type'         => 'read',
        'capabilities' => 'moodle/course:enrolreview',
        'ajax'         => false,
    ],
    'local_keepaccess_get_site_settings' => [
        'classname'    => 'local_keepaccess\external\get_site_settings',
        'methodname'   => 'execute',
        'description'  => 'The installed plugin version, server time zone and clock and history retention: what a run '
            . 'checks once per site before it touches a course.',
        'type'         => 'read',
        'capabilities' => 'moodle/course:enrolreview',
        'ajax'         => false,
    ],
    'local_keepaccess_claim_course' => [
        'classname'    => 'local_keepaccess\external\claim_course',
        'methodname'   => 'execute',
        'description'  => 'Claims a course for one run (or renews the claim) so that no other run writes there meanwhile.',
        'type'         => 'write',
        'capabilities' => 'enrol/manual:enrol',
        'ajax'         => false,
    ],
    'local_keepaccess_release_course' => [
        'classname'    => 'local_keepaccess\external\release_course',
        'methodname'   => 'execute',
        'description'  => "Ends a run's claim on a course.",
        'type'         => 'write',
        'capabilities' => 'enrol/manual:enrol',
        'ajax'         => false,
    ],
];

$services = [
    'Keep access (cemu.moodle)' => [
        'shortname'       => 'keep_access',
        'functions'       => [
            'local_keepaccess_get_course_enrolments',
            'local_keepaccess_apply_manual_enrolments',
            'local_keepaccess_remove_manual_enrolments',
            'local_keepaccess_ensure_manual_instance',
            'local_keepaccess_get_course_history',
            'local_keepaccess_get_site_settings',
            'local_keepaccess_claim_course',
            'local_keepaccess_release_course',
            'core_webservice_get_site_info',
            'core_course_get_courses_by_field',
            'core_course_get_categories',
            'enrol_manual_enrol_users',
            'enrol_manual_unenrol_users',
        ],
        'restrictedusers' => 1,
        'enabled'         => 1,
        'downloadfiles'   => 0,
        'uploadfiles'     => 0,
    ],
];
