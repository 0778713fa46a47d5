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
 * English strings for local_keepaccess.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$string['cannotassignrole'] = 'Role id {$a->roleid} cannot be assigned in course {$a->courseid}: the role does not exist, cannot be assigned in a course, or the web-service user is not allowed to assign it (Define roles > Allow role assignments).';
$string['claimrequired'] = 'Course {$a->courseid}: run {$a->runid} does not hold the course (its claim ended or was never taken): claim the course again (local_keepaccess_claim_course) and re-read it before writing.';
$string['cli_allowedassign'] = 'Allowed the role to assign role {$a}.';
$string['cli_allowedcapability'] = 'Allowed capability {$a}.';
$string['cli_assignedrole'] = 'Assigned role {$a} to the user in the system context.';
$string['cli_authorised'] = 'Authorised the user on service {$a}.';
$string['cli_badauth'] = 'Unsupported --auth value "{$a}": use manual or webservice.';
$string['cli_createdrole'] = 'Created role {$a}.';
$string['cli_createdtoken'] = 'Created a permanent token.';
$string['cli_createduser'] = 'Created user {$a}.';
$string['cli_enabledrest'] = 'Enabled the REST protocol.';
$string['cli_enabledwebservices'] = 'Enabled web services.';
$string['cli_help'] = 'Creates or reuses the web-service user of the keep_access service and prints its token.

Creates what is missing, changes nothing that exists: the user, the role keepaccess_ws with the
capabilities the service needs (assigned in the system context), the roles it may assign,
the user\'s authorisation on the service and a permanent token.

Usage:
    php local/keepaccess/cli/create_service_user.php [options]
    (Moodle 5.1+: php public/local/keepaccess/cli/create_service_user.php [options])

Options:
    --username=NAME           Web-service user (default {$a}).
    --auth=manual|webservice  Authentication of a new user (default manual, with an unknown random password).
    --assignable-roles=LIST   Comma-separated role shortnames the user may assign in courses
                              (default student,teacher,editingteacher).
    --enable-webservices      Also enable web services and the REST protocol on the site.
    --print-token-only        Print only the token.
    --json                    Print {"token", "userid", "changes"} as JSON.
    -h, --help                Print this help.

Run it as the web server user, e.g.: sudo -u www-data php ...';
$string['cli_noservice'] = 'Service {$a} not found: install or upgrade local_keepaccess first (php admin/cli/upgrade.php).';
$string['cli_restoff'] = 'The REST protocol is disabled: the token will not work until it is enabled (or run with --enable-webservices).';
$string['cli_roledescription'] = 'Web-service role of the cemu.moodle keep_access service: reads course enrolments and manages manual enrolments and role assignments.';
$string['cli_rolename'] = 'Keep access web service';
$string['cli_token'] = 'Token: {$a}';
$string['cli_unknownrole'] = 'Role {$a} does not exist (--assignable-roles).';
$string['cli_usersuspended'] = 'User {$a} exists but is suspended: reactivate it or choose another --username.';
$string['cli_webservicesoff'] = 'Web services are disabled: the token will not work until they are enabled (or run with --enable-webservices).';
$string['coursebusy'] = 'Course {$a} is locked by another request that did not finish within 10 seconds: try again.';
$string['courseclaimed'] = 'Course {$a->courseid} is being changed by run {$a->runid} until {$a->until} (its claim lasts as long as that run renews it): wait for that run to finish, or run again after that time.';
$string['coursenotfound'] = 'Course id {$a} not found (the site front page is not a course here).';
$string['deleteduser'] = 'User id {$a->userid} is deleted and cannot be enrolled in course {$a->courseid}.';
$string['duplicateuser'] = 'User id {$a->userid} appears more than once in the request for course {$a->courseid}.';
$string['guestuser'] = 'User id {$a->userid} is the guest user and cannot be enrolled in course {$a->courseid}.';
$string['historyretention'] = 'Keep history for';
$string['historyretention_desc'] = 'How long the record of what the keep_access service changed (enrolments and roles before and after, per course and user) is kept. A run reads this history to know what earlier runs did and to undo them, so keep it at least as long as you may want to undo a run. 0 keeps it for ever. Records of deleted courses are removed in any case.';
$string['invalidclaim'] = 'Course {$a->courseid}: a claim needs a run id and a length between 1 and {$a->max} seconds.';
$string['invalidhistorypaging'] = 'fromid ({$a->fromid}) and maxrecords ({$a->maxrecords}) must not be negative (course {$a->courseid}).';
$string['invalidpaging'] = 'fromuserid ({$a->fromuserid}) and maxusers ({$a->maxusers}) must not be negative (course {$a->courseid}).';
$string['invalidrunid'] = 'Course {$a->courseid}: the run id is longer than {$a->max} characters.';
$string['invalidstatus'] = 'User id {$a->userid} in course {$a->courseid}: status {$a->status} is not 0 (active) or 1 (suspended).';
$string['invalidtimes'] = 'User id {$a->userid} in course {$a->courseid}: timeend {$a->timeend} is before timestart {$a->timestart} (or a time is negative).';
$string['manualplugindisabled'] = 'The manual enrolment plugin is disabled on this site, so course {$a} cannot use a manual enrolment instance.';
$string['nomanualinstance'] = 'Course id {$a} has no enabled manual enrolment instance (or the manual enrolment plugin is disabled on the site).';
$string['pluginname'] = 'Keep access web services';
$string['privacy:metadata:history'] = 'What the keep_access web service changed for a user in a course, kept so that later runs know what earlier runs did and can undo them.';
$string['privacy:metadata:history:courseid'] = 'The course.';
$string['privacy:metadata:history:hadbefore'] = 'Whether the user had a manual enrolment before the change.';
$string['privacy:metadata:history:hasafter'] = 'Whether the user has a manual enrolment after the change.';
$string['privacy:metadata:history:rolesafter'] = 'The manual roles the user held after the change.';
$string['privacy:metadata:history:rolesbefore'] = 'The manual roles the user held before the change.';
$string['privacy:metadata:history:runid'] = 'The run of the keep_access playbook that made the change.';
$string['privacy:metadata:history:statusafter'] = 'The status of the manual enrolment after the change.';
$string['privacy:metadata:history:statusbefore'] = 'The status of the manual enrolment before the change.';
$string['privacy:metadata:history:step'] = 'The step of that run (for example restore, end date or revert).';
$string['privacy:metadata:history:timecreated'] = 'When the change was made.';
$string['privacy:metadata:history:timeendafter'] = 'The end date of the manual enrolment after the change.';
$string['privacy:metadata:history:timeendbefore'] = 'The end date of the manual enrolment before the change.';
$string['privacy:metadata:history:timestartafter'] = 'The start date of the manual enrolment after the change.';
$string['privacy:metadata:history:timestartbefore'] = 'The start date of the manual enrolment before the change.';
$string['privacy:metadata:history:userid'] = 'The user whose enrolment or roles changed.';
$string['privacy:metadata:keepaccess_backups'] = 'Besides its history of changes, the Keep access web services plugin lets the cemu.moodle Ansible collection copy course enrolments out of Moodle: it writes them to backup files on the machine that runs the collection (files readable only by its operator, kept until the operator deletes them), to convert them later into manual enrolments.';
$string['privacy:metadata:keepaccess_backups:courseid'] = 'The course of the enrolment.';
$string['privacy:metadata:keepaccess_backups:enrol'] = 'The enrolment method (for example external database or cohort sync) and its instance.';
$string['privacy:metadata:keepaccess_backups:roles'] = 'The roles the user holds in the course through that enrolment.';
$string['privacy:metadata:keepaccess_backups:status'] = 'Whether the enrolment is active or suspended.';
$string['privacy:metadata:keepaccess_backups:timeend'] = 'When the enrolment ends.';
$string['privacy:metadata:keepaccess_backups:timestart'] = 'When the enrolment starts.';
$string['privacy:metadata:keepaccess_backups:userid'] = 'The id of the enrolled user.';
$string['privacy:metadata:keepaccess_backups:username'] = 'The username of the enrolled user.';
$string['privacy:path:history'] = 'Keep access history';
$string['taskpurgehistory'] = 'Remove old keep access history and ended course claims';
$string['unknownuser'] = 'User id {$a->userid} does not exist (course {$a->courseid}).';
