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

use context_system;
use moodle_exception;
use stdClass;

/**
 * The web-service account of the keep_access service: user, role, service authorisation, token.
 *
 * Every step first looks for what exists and only creates what is missing, so running it again
 * changes nothing. {@see self::$changes} lists what a run did.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class service_account {
    /** @var string default username of the web-service user */
    const DEFAULT_USERNAME = 'keepaccess_ws';

    /** @var string shortname of the role given to the web-service user in the system context */
    const ROLE_SHORTNAME = 'keepaccess_ws';

    /** @var string shortname of the service declared in db/services.php */
    const SERVICE_SHORTNAME = 'keep_access';

    /** @var string[] roles the web-service user may assign in courses, by default */
    const DEFAULT_ASSIGNABLE_ROLES = ['student', 'teacher', 'editingteacher'];

    /**
     * The least capabilities the service's functions need, and why.
     *
     * Nothing here lets the account change users, courses or grades, or read anything beyond
     * courses, categories and enrolments.
     */
    const CAPABILITIES = [
        // Call functions over REST; checked in the token's (system) context.
        'webservice/rest:use',
        // Every function validates the course context, which runs require_login() on the course:
        // an account enrolled nowhere needs this to enter a course.
        'moodle/course:view',
        // Find and enter hidden courses too (end-of-year courses are often hidden).
        'moodle/course:viewhiddencourses',
        // List hidden categories through core_course_get_categories (inventory).
        'moodle/category:viewhiddencategories',
        // local_keepaccess_get_course_enrolments.
        'moodle/course:enrolreview',
        // local_keepaccess_apply_manual_enrolments and enrol_manual_enrol_users.
        'enrol/manual:enrol',
        'enrol/manual:manage',
        // local_keepaccess_remove_manual_enrolments (unenrol=1) and enrol_manual_unenrol_users.
        'enrol/manual:unenrol',
        // Manual role assignments; which roles is limited by role_allow_assign (--assignable-roles).
        'moodle/role:assign',
        // local_keepaccess_ensure_manual_instance.
        'moodle/course:enrolconfig',
        'enrol/manual:config',
    ];

    /** @var int id of the web-service user, once known */
    public $userid = 0;

    /** @var string[] what this run changed, as human sentences */
    public $changes = [];

    /** @var string */
    private $username;

    /** @var string auth plugin for a new user */
    private $auth;

    /** @var string[] role shortnames the account may assign */
    private $assignableroles;

    /**
     * Constructor.
     *
     * @param string $username
     * @param string $auth 'manual' or 'webservice'
     * @param string[] $assignableroles role shortnames
     */
    public function __construct(string $username, string $auth, array $assignableroles) {
        $this->username = $username;
        $this->auth = $auth;
        $this->assignableroles = array_values($assignableroles);
    }

    /**
     * Makes sure user, role, role assignment, service authorisation and token exist.
     *
     * @return string the token
     */
    public function ensure(): string {
        global $DB;
        $service = $this->require_service();
        $transaction = $DB->start_delegated_transaction();
        try {
            $this->userid = $this->ensure_user();
            $roleid = $this->ensure_role();
            $this->ensure_role_assignment($roleid);
            $this->ensure_service_authorisation($service);
            $token = $this->ensure_token($service);
            $transaction->allow_commit();
        } catch (\Throwable $e) {
            $this->changes = [];
            $transaction->rollback($e);   // Rethrows $e.
        }
        return $token;
    }

    /**
     * Turns on web services and the REST protocol when they are off.
     */
    public function enable_rest_webservices(): void {
        global $CFG;
        if (empty($CFG->enablewebservices)) {
            set_config('enablewebservices', 1);
            $this->changes[] = get_string('cli_enabledwebservices', 'local_keepaccess');
        }
        $protocols = $this->enabled_protocols();
        if (!in_array('rest', $protocols, true)) {
            $protocols[] = 'rest';
            set_config('webserviceprotocols', implode(',', $protocols));
            $this->changes[] = get_string('cli_enabledrest', 'local_keepaccess');
        }
    }

    /**
     * Site settings that still stop the token from working.
     *
     * @return string[]
     */
    public function warnings(): array {
        global $CFG;
        $warnings = [];
        if (empty($CFG->enablewebservices)) {
            $warnings[] = get_string('cli_webservicesoff', 'local_keepaccess');
        }
        if (!in_array('rest', $this->enabled_protocols(), true)) {
            $warnings[] = get_string('cli_restoff', 'local_keepaccess');
        }
        return $warnings;
    }

    /**
     * The enabled web-service protocols.
     *
     * @return string[]
     */
    private function enabled_protocols(): array {
        global $CFG;
        return empty($CFG->webserviceprotocols) ? [] : array_filter(explode(',', $CFG->webserviceprotocols));
    }

    /**
     * The keep_access service, which exists once the plugin is installed.
     *
     * @return stdClass
     * @throws moodle_exception when the plugin is not installed or upgraded yet
     */
    private function require_service(): stdClass {
        global $DB;
        $service = $DB->get_record('external_services', ['shortname' => self::SERVICE_SHORTNAME]);
        if (!$service) {
            throw new moodle_exception('cli_noservice', 'local_keepaccess', '', self::SERVICE_SHORTNAME);
        }
        return $service;
    }

    /**
     * Finds the user by username or creates it with an unknown random password.
     *
     * @return int user id
     */
    private function ensure_user(): int {
        global $DB, $CFG;
        $user = $DB->get_record('user', ['username' => $this->username, 'mnethostid' => $CFG->mnet_localhost_id,
            'deleted' => 0]);
        if ($user) {
            if (!empty($user->suspended)) {
                throw new moodle_exception('cli_usersuspended', 'local_keepaccess', '', $this->username);
            }
            return (int) $user->id;
        }
        $user = (object) [
            'username' => $this->username,
            'auth' => $this->auth,
            'confirmed' => 1,
            'mnethostid' => $CFG->mnet_localhost_id,
            'firstname' => 'Keep access',
            'lastname' => 'Web service',
            'email' => $this->username . '@localhost.invalid',
            'password' => generate_password(32),
        ];
        $userid = (int) user_create_user($user, true, true);
        $this->changes[] = get_string('cli_createduser', 'local_keepaccess', $this->username);
        return $userid;
    }

    /**
     * Finds or creates the role, and adds any missing capability or allowed role assignment.
     *
     * @return int role id
     */
    private function ensure_role(): int {
        global $DB;
        $systemcontext = context_system::instance();
        $roleid = (int) $DB->get_field('role', 'id', ['shortname' => self::ROLE_SHORTNAME]);
        if (!$roleid) {
            $roleid = (int) create_role(get_string('cli_rolename', 'local_keepaccess'), self::ROLE_SHORTNAME,
                get_string('cli_roledescription', 'local_keepaccess'));
            set_role_contextlevels($roleid, [CONTEXT_SYSTEM]);
            $this->changes[] = get_string('cli_createdrole', 'local_keepaccess', self::ROLE_SHORTNAME);
        }
        $allowed = $DB->get_records_menu('role_capabilities',
            ['roleid' => $roleid, 'contextid' => $systemcontext->id, 'permission' => CAP_ALLOW], '', 'capability, id');
        foreach (self::CAPABILITIES as $capability) {
            if (!isset($allowed[$capability])) {
                assign_capability($capability, CAP_ALLOW, $roleid, $systemcontext->id, true);
                $this->changes[] = get_string('cli_allowedcapability', 'local_keepaccess', $capability);
            }
        }
        $this->ensure_assignable_roles($roleid);
        return $roleid;
    }

    /**
     * Lets the role assign the chosen course roles (Define roles > Allow role assignments).
     *
     * @param int $roleid
     */
    private function ensure_assignable_roles(int $roleid): void {
        global $DB;
        foreach ($this->assignableroles as $shortname) {
            $targetid = (int) $DB->get_field('role', 'id', ['shortname' => $shortname]);
            if (!$targetid) {
                throw new moodle_exception('cli_unknownrole', 'local_keepaccess', '', $shortname);
            }
            if (!$DB->record_exists('role_allow_assign', ['roleid' => $roleid, 'allowassign' => $targetid])) {
                core_role_set_assign_allowed($roleid, $targetid);
                $this->changes[] = get_string('cli_allowedassign', 'local_keepaccess', $shortname);
            }
        }
    }

    /**
     * Gives the user the role in the system context.
     *
     * @param int $roleid
     */
    private function ensure_role_assignment(int $roleid): void {
        global $DB;
        $systemcontext = context_system::instance();
        $conditions = ['roleid' => $roleid, 'userid' => $this->userid, 'contextid' => $systemcontext->id,
            'component' => '', 'itemid' => 0];
        if (!$DB->record_exists('role_assignments', $conditions)) {
            role_assign($roleid, $this->userid, $systemcontext->id);
            $this->changes[] = get_string('cli_assignedrole', 'local_keepaccess', self::ROLE_SHORTNAME);
        }
    }

    /**
     * Authorises the user on the service (the service is restricted to authorised users).
     *
     * @param stdClass $service
     */
    private function ensure_service_authorisation(stdClass $service): void {
        global $DB;
        $conditions = ['externalserviceid' => $service->id, 'userid' => $this->userid];
        if (!$DB->record_exists('external_services_users', $conditions)) {
            $DB->insert_record('external_services_users', (object) ($conditions + ['timecreated' => time()]));
            $this->changes[] = get_string('cli_authorised', 'local_keepaccess', $service->shortname);
        }
    }

    /**
     * Returns the user's oldest valid permanent token for the service, creating one when none exists.
     *
     * @param stdClass $service
     * @return string
     */
    private function ensure_token(stdClass $service): string {
        global $DB;
        $select = 'userid = :userid AND externalserviceid = :serviceid AND tokentype = :tokentype
                   AND (validuntil IS NULL OR validuntil = 0 OR validuntil > :now)';
        $params = ['userid' => $this->userid, 'serviceid' => $service->id, 'tokentype' => EXTERNAL_TOKEN_PERMANENT,
            'now' => time()];
        $tokens = $DB->get_records_select('external_tokens', $select, $params, 'id', 'id, token', 0, 1);
        if ($tokens) {
            return reset($tokens)->token;
        }
        $this->changes[] = get_string('cli_createdtoken', 'local_keepaccess');
        return $this->generate_token($service);
    }

    /**
     * Creates a permanent token with the API of the running Moodle (4.2+ core_external, else 4.1's function).
     *
     * @param stdClass $service
     * @return string
     */
    private function generate_token(stdClass $service): string {
        $context = context_system::instance();
        if (method_exists(\core_external\util::class, 'generate_token')) {
            return \core_external\util::generate_token(EXTERNAL_TOKEN_PERMANENT, $service, $this->userid, $context,
                0, '', self::SERVICE_SHORTNAME);
        }
        return external_generate_token(EXTERNAL_TOKEN_PERMANENT, $service, $this->userid, $context);
    }
}
