<?php
// Copyright: cemu.moodle contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * The oracle: Moodle's own procedure, run with Moodle's own code, next to the collection's.
 *
 * --action=prepare builds every state of --states (tests/live/oracle_states.json) twice, in courses
 * ORC-<state>-M and ORC-<state>-O of the category "cemu.moodle oracle" (sources included: rows of
 * enrol_database's external table, cohorts, manual and self enrolments, category roles), then runs
 * the manual procedure on every M copy:
 *   1-2. backup_controller (users and role assignments only) and restore_controller merging into the
 *        same course (TARGET_CURRENT_ADDING, enrolments = backup::ENROL_NEVER, "restore users as
 *        manual enrolments"), as the site admin;
 *   3.   core_user\table\participants_search with the Participants page's filters (Match all of:
 *        Roles any of [student], Status any of [active]), then enrol_manual's bulk operation
 *        "Edit selected manual enrolments" (editselectedusers) with only the end date set.
 * The O copies are left for the collection's role (run by tests/live/test_oracle.py).
 * --action=read prints what both copies of every state hold now.
 *
 * Prints JSON on STDOUT. Times are Unix times; the anchor (midnight UTC of --anchor's day) and the end
 * (23:59:59 of --end in the site's time zone) are in the output, so the caller can name them.
 *
 * Run as the web server's user:
 *   sudo -u www-data php tests/live/oracle.php --moodle=/var/www/moodle --action=prepare \
 *       --states=tests/live/oracle_states.json --anchor=1767225600 --end=2027-06-30
 *
 * Test site only: it deletes and recreates the ORC-* courses and orc_* cohorts, and writes rows into
 * enrol_database's external table (whatever enrol_database is configured to read).
 */

define('CLI_SCRIPT', true);

require(__DIR__ . '/cli_options.php');

$usage = <<<EOT
The cemu.moodle oracle: builds the states twice and runs Moodle's own procedure on copy M.

Options:
  --moodle=DIR      Moodle directory holding config.php (5.1: the directory above public/)
  --action=ACTION   prepare (build both copies, run Moodle's procedure on M) or read (print both copies)
  --states=FILE     the states (tests/live/oracle_states.json)
  --anchor=UNIX     the run's anchor time (day offsets count from midnight UTC of its day; default now)
  --end=YYYY-MM-DD  prepare: the end date of step 3 (23:59:59 in the site's time zone)
  --only=A,B        only these states
  -h, --help        this help

EOT;
$oracleoptions = keepaccess_cli_options($usage, ['action:', 'states:', 'anchor:', 'end:', 'only:']);

require($oracleoptions['moodle'] . '/config.php');
require_once($CFG->dirroot . '/course/lib.php');
require_once($CFG->dirroot . '/user/lib.php');
require_once($CFG->dirroot . '/cohort/lib.php');
require_once($CFG->dirroot . '/enrol/cohort/locallib.php');
require_once($CFG->dirroot . '/enrol/database/lib.php');
require_once($CFG->dirroot . '/enrol/locallib.php');
require_once($CFG->dirroot . '/enrol/manual/locallib.php');
require_once($CFG->dirroot . '/backup/util/includes/backup_includes.php');
require_once($CFG->dirroot . '/backup/util/includes/restore_includes.php');

use core_table\local\filter\filter;
use core_table\local\filter\integer_filter;

const ORACLE_CATEGORY_IDNUMBER = 'KEEPACCESS-ORACLE';
const ORACLE_CATEGORY_NAME = 'cemu.moodle oracle';
const ORACLE_COPIES = ['M', 'O'];
const ORACLE_DAY = 86400;

/**
 * enrol_database with access to its external table (the part of the school's source system).
 *
 * The class name keeps "database" as its second word: enrol_plugin::get_name() reads the plugin
 * name (and so its settings) from there.
 */
class enrol_database_oracle_source extends enrol_database_plugin {
    /** @var ADOConnection|null */
    private $extdb = null;

    /**
     * The external database, connected the way the plugin connects.
     */
    private function connection() {
        if ($this->extdb === null) {
            $this->extdb = $this->db_init();
            if (!$this->extdb) {
                throw new moodle_exception('generalexceptionmessage', 'error', '',
                    'cannot connect to enrol_database\'s external database');
            }
        }
        return $this->extdb;
    }

    /**
     * The external table and its course, user and role columns, as configured.
     */
    private function columns(): array {
        $names = ['remoteenroltable', 'remotecoursefield', 'remoteuserfield', 'remoterolefield'];
        $values = [];
        foreach ($names as $name) {
            $values[$name] = trim((string) $this->get_config($name));
            if ($values[$name] === '') {
                throw new moodle_exception('generalexceptionmessage', 'error', '',
                    "enrol_database is not set up for the oracle: its setting $name is empty");
            }
        }
        return array_values($values);
    }

    /**
     * A quoted value for the external database.
     */
    private function quoted(string $value): string {
        return "'" . $this->db_encode($this->db_addslashes($value)) . "'";
    }

    /**
     * Adds a row (course, user, role) to the external table.
     */
    public function add_row(string $course, string $user, string $role): void {
        [$table, $coursefield, $userfield, $rolefield] = $this->columns();
        $sql = "INSERT INTO $table ($coursefield, $userfield, $rolefield) VALUES (" .
            implode(', ', [$this->quoted($course), $this->quoted($user), $this->quoted($role)]) . ')';
        $this->execute($sql);
    }

    /**
     * Deletes every row of a course, or of one user in the course.
     */
    public function delete_rows(string $course, ?string $user = null): void {
        [$table, $coursefield, $userfield] = $this->columns();
        $sql = "DELETE FROM $table WHERE $coursefield = " . $this->quoted($course);
        if ($user !== null) {
            $sql .= " AND $userfield = " . $this->quoted($user);
        }
        $this->execute($sql);
    }

    /**
     * Runs a statement on the external database, or fails naming it.
     */
    private function execute(string $sql): void {
        if (!$this->connection()->Execute($sql)) {
            throw new moodle_exception('generalexceptionmessage', 'error', '',
                'external enrolment table: ' . $this->connection()->ErrorMsg() . " in: $sql");
        }
    }

    /**
     * The value naming a course, user or role in the external table (the local fields configured).
     */
    public function mapping(string $kind, stdClass $record): string {
        $field = $this->get_config('local' . $kind . 'field');
        return (string) $record->$field;
    }
}

/**
 * A time of the states file: 0, or a day offset from the anchor ('-30d', '+60d').
 */
function oracle_time($value, int $anchor): int {
    if ($value === null || $value === 0 || $value === '0') {
        return 0;
    }
    if (!preg_match('/^([+-]\d+)d$/', (string) $value, $match)) {
        throw new coding_exception("bad time '$value' in the states file: 0, '+Nd' or '-Nd'");
    }
    return $anchor + (int) $match[1] * ORACLE_DAY;
}

/**
 * The end of step 3: 23:59:59 of the day in the site's time zone (what the collection computes).
 */
function oracle_end(string $date): int {
    if (!preg_match('/^\d{4}-\d{2}-\d{2}$/', $date)) {
        throw new coding_exception("--end must be YYYY-MM-DD, got '$date'");
    }
    $end = new DateTime($date . ' 23:59:59', core_date::get_server_timezone_object());
    return $end->getTimestamp();
}

/**
 * The states to build: every state of the file, or the ones --only names.
 */
function oracle_states(string $file, ?string $only): array {
    $data = json_decode(file_get_contents($file), true);
    if (!is_array($data) || ($data['format'] ?? '') !== 'cemu.moodle.oracle_states') {
        throw new coding_exception("$file is not a cemu.moodle.oracle_states file");
    }
    $states = $data['states'];
    if ($only) {
        $wanted = explode(',', $only);
        $states = array_values(array_filter($states, fn($s) => in_array($s['name'], $wanted, true)));
    }
    return $states;
}

/**
 * Username of a state's user.
 */
function oracle_username(array $state, string $key): string {
    return 'orc_' . $state['name'] . '_' . $key;
}

/**
 * Shortname (and idnumber) of a state's copy.
 */
function oracle_shortname(array $state, string $copy): string {
    return 'ORC-' . $state['name'] . '-' . $copy;
}

/**
 * Idnumber of a state's cohort.
 */
function oracle_cohort_idnumber(array $state, string $key): string {
    return 'orc_' . $state['name'] . '_' . $key;
}

/**
 * The oracle's course category, created when missing.
 */
function oracle_category(): core_course_category {
    global $DB;
    $id = $DB->get_field('course_categories', 'id', ['idnumber' => ORACLE_CATEGORY_IDNUMBER]);
    if ($id) {
        return core_course_category::get($id, MUST_EXIST, true);
    }
    return core_course_category::create(['name' => ORACLE_CATEGORY_NAME, 'idnumber' => ORACLE_CATEGORY_IDNUMBER]);
}

/**
 * Role ids by shortname.
 */
function oracle_roleids(): array {
    global $DB;
    return array_map('intval', $DB->get_records_menu('role', null, '', 'shortname, id'));
}

/**
 * Removes what an earlier run left: its courses (and their external rows), its cohorts, and the
 * category roles and account suspensions of the oracle's users.
 */
function oracle_clean(core_course_category $category, enrol_database_oracle_source $source): array {
    global $DB;
    $removed = ['courses' => 0, 'cohorts' => 0];
    foreach ($DB->get_records('course', ['category' => $category->id]) as $course) {
        $source->delete_rows($source->mapping('course', $course));
        delete_course($course, false);
        $removed['courses']++;
    }
    foreach ($DB->get_records_select('cohort', $DB->sql_like('idnumber', ':p'), ['p' => 'orc\\_%']) as $cohort) {
        cohort_delete_cohort($cohort);
        $removed['cohorts']++;
    }
    role_unassign_all(['contextid' => $category->get_context()->id]);
    $users = $DB->get_records_select('user', $DB->sql_like('username', ':p') . ' AND deleted = 0 AND suspended = 1',
        ['p' => 'orc\\_%']);
    foreach ($users as $user) {
        user_update_user((object) ['id' => $user->id, 'suspended' => 0], false);
    }
    fix_course_sortorder();
    return $removed;
}

/**
 * The state's users (created when missing), key => user record.
 */
function oracle_users(array $state): array {
    global $DB, $CFG;
    $users = [];
    foreach (array_keys($state['users']) as $key) {
        $username = oracle_username($state, $key);
        $user = $DB->get_record('user', ['username' => $username, 'mnethostid' => $CFG->mnet_localhost_id, 'deleted' => 0]);
        if (!$user) {
            $id = user_create_user((object) [
                'username' => $username, 'auth' => 'manual', 'confirmed' => 1, 'mnethostid' => $CFG->mnet_localhost_id,
                'firstname' => 'Oracle', 'lastname' => $state['name'] . ' ' . $key,
                'email' => $username . '@example.com', 'idnumber' => 'ID-' . $username,
            ], false);
            $user = $DB->get_record('user', ['id' => $id], '*', MUST_EXIST);
        }
        $users[$key] = $user;
    }
    return $users;
}

/**
 * The course's first instance of a plugin (by sortorder, id), or null.
 */
function oracle_instance(int $courseid, string $enrol): ?stdClass {
    foreach (enrol_get_instances($courseid, false) as $instance) {
        if ($instance->enrol === $enrol) {
            return $instance;
        }
    }
    return null;
}

/**
 * The course's instance of a plugin, enabled, created when missing.
 */
function oracle_enabled_instance(stdClass $course, string $enrol): stdClass {
    $plugin = enrol_get_plugin($enrol);
    $instance = oracle_instance($course->id, $enrol);
    if (!$instance) {
        $plugin->add_instance($course, ['status' => ENROL_INSTANCE_ENABLED]);
        $instance = oracle_instance($course->id, $enrol);
    } else if ($instance->status != ENROL_INSTANCE_ENABLED) {
        $plugin->update_status($instance, ENROL_INSTANCE_ENABLED);
        $instance = oracle_instance($course->id, $enrol);
    }
    return $instance;
}

/**
 * The state's cohorts (created, with their members), key => cohort id.
 */
function oracle_cohorts(array $state, array $users): array {
    $cohorts = [];
    foreach ($state['cohorts'] ?? [] as $key => $spec) {
        $idnumber = oracle_cohort_idnumber($state, $key);
        $id = cohort_add_cohort((object) ['contextid' => context_system::instance()->id, 'name' => $idnumber,
            'idnumber' => $idnumber, 'description' => 'cemu.moodle oracle']);
        foreach ($state['users'] as $userkey => $userspec) {
            if (in_array($key, $userspec['cohorts'] ?? [], true)) {
                cohort_add_member($id, $users[$userkey]->id);
            }
        }
        $cohorts[$key] = (int) $id;
    }
    return $cohorts;
}

/**
 * One copy of a state: a new course with every enrolment the state describes.
 */
function oracle_build_copy(array $state, string $copy, core_course_category $category, array $users, array $cohorts,
        array $roleids, int $anchor, enrol_database_oracle_source $source, progress_trace $trace): stdClass {
    $shortname = oracle_shortname($state, $copy);
    $course = create_course((object) ['category' => $category->id, 'shortname' => $shortname,
        'fullname' => "Oracle {$state['name']} ($copy): {$state['title']}", 'idnumber' => $shortname,
        'format' => 'topics', 'startdate' => $anchor - 365 * ORACLE_DAY, 'enddate' => 0]);
    $mapping = $source->mapping('course', $course);

    // The source system: its rows, then enrol_database's sync of this course (it adds the instance).
    $hasdatabase = false;
    foreach ($state['users'] as $key => $spec) {
        foreach ($spec['database']['roles'] ?? [] as $role) {
            $source->add_row($mapping, $source->mapping('user', $users[$key]),
                $source->mapping('role', (object) ['id' => $roleids[$role], 'shortname' => $role]));
            $hasdatabase = true;
        }
    }
    if ($hasdatabase) {
        oracle_sync_database($source, $course, $trace);
    }

    // Cohort sync instances, synced at once.
    $cohortinstances = [];
    foreach ($state['cohorts'] ?? [] as $key => $spec) {
        $cohortinstances[$key] = enrol_get_plugin('cohort')->add_instance($course, ['customint1' => $cohorts[$key],
            'roleid' => $roleids[$spec['role']], 'customint2' => 0, 'status' => ENROL_INSTANCE_ENABLED]);
    }
    if ($cohortinstances) {
        enrol_cohort_sync($trace, $course->id);
    }

    // Manual and self enrolments.
    foreach (['manual', 'self'] as $enrol) {
        foreach ($state['users'] as $key => $spec) {
            if (isset($spec[$enrol])) {
                oracle_enrol($course, $enrol, $users[$key]->id, $spec[$enrol], $roleids, $anchor);
            }
        }
    }

    // The source drops the suspended rows (enrol_database suspends them), then the rows' dates.
    $dropped = false;
    foreach ($state['users'] as $key => $spec) {
        if (($spec['database']['status'] ?? 'active') === 'suspended') {
            $source->delete_rows($mapping, $source->mapping('user', $users[$key]));
            $dropped = true;
        }
    }
    if ($dropped) {
        oracle_sync_database($source, $course, $trace);
    }
    foreach ($state['users'] as $key => $spec) {
        if (isset($spec['database']['timestart']) || isset($spec['database']['timeend'])) {
            $source->update_user_enrol(oracle_instance($course->id, 'database'), $users[$key]->id, null,
                oracle_time($spec['database']['timestart'] ?? 0, $anchor), oracle_time($spec['database']['timeend'] ?? 0, $anchor));
        }
    }

    // Cohort instances switched off after their members were enrolled, and the manual instance.
    foreach ($state['cohorts'] ?? [] as $key => $spec) {
        if ((int) $spec['status'] !== ENROL_INSTANCE_ENABLED) {
            enrol_get_plugin('cohort')->update_status(oracle_instance_by_id($cohortinstances[$key]), ENROL_INSTANCE_DISABLED);
        }
    }
    if ((int) ($state['manual_instance']['status'] ?? ENROL_INSTANCE_ENABLED) !== ENROL_INSTANCE_ENABLED) {
        enrol_get_plugin('manual')->update_status(oracle_instance($course->id, 'manual'), ENROL_INSTANCE_DISABLED);
    }
    return $course;
}

/**
 * An enrol instance by id.
 */
function oracle_instance_by_id(int $id): stdClass {
    global $DB;
    return $DB->get_record('enrol', ['id' => $id], '*', MUST_EXIST);
}

/**
 * enrol_database's sync of one course; fails when it reports an error.
 */
function oracle_sync_database(enrol_database_oracle_source $source, stdClass $course, progress_trace $trace): void {
    if ($source->sync_enrolments($trace, $course->id) !== 0) {
        throw new moodle_exception('generalexceptionmessage', 'error', '', "enrol_database sync of {$course->shortname} failed");
    }
}

/**
 * A manual or self enrolment with its roles (enrol_user, then role_assign as the plugin does).
 */
function oracle_enrol(stdClass $course, string $enrol, int $userid, array $spec, array $roleids, int $anchor): void {
    $instance = $enrol === 'manual' ? oracle_instance($course->id, 'manual') : oracle_enabled_instance($course, $enrol);
    $roles = $spec['roles'] ?? [];
    $plugin = enrol_get_plugin($enrol);
    $plugin->enrol_user($instance, $userid, $roles ? $roleids[$roles[0]] : null,
        oracle_time($spec['timestart'] ?? 0, $anchor), oracle_time($spec['timeend'] ?? 0, $anchor), (int) ($spec['status'] ?? 0));
    foreach (array_slice($roles, 1) as $role) {
        role_assign($roleids[$role], $userid, context_course::instance($course->id)->id);
    }
}

/**
 * What a state's user is outside the course: account suspended, roles in the category.
 */
function oracle_user_extras(array $state, array $users, core_course_category $category, array $roleids): void {
    foreach ($state['users'] as $key => $spec) {
        foreach ($spec['category_roles'] ?? [] as $role) {
            role_assign($roleids[$role], $users[$key]->id, $category->get_context()->id);
        }
        if (!empty($spec['account']['suspended'])) {
            user_update_user((object) ['id' => $users[$key]->id, 'suspended' => 1], false);
        }
    }
}

/**
 * Every root setting of a backup or restore plan off, except the given values.
 */
function oracle_plan_settings(base_plan $plan, array $wanted): array {
    $set = [];
    foreach ($plan->get_settings() as $name => $setting) {
        if ($name === 'filename') {
            continue;
        }
        $value = $wanted[$name] ?? ($setting->get_param_validation() === PARAM_BOOL ? 0 : null);
        if ($value === null || $setting->get_value() == $value) {
            continue;
        }
        if ($setting->get_status() !== base_setting::NOT_LOCKED) {
            continue;
        }
        $setting->set_value($value);
        $set[$name] = $value;
    }
    foreach ($wanted as $name => $value) {
        if ($plan->get_setting($name)->get_value() != $value) {
            throw new moodle_exception('generalexceptionmessage', 'error', '', "could not set the $name setting to $value");
        }
    }
    return $set;
}

/**
 * Steps 1-2 of the manual procedure: back up the course with users and role assignments only, restore
 * it into the same course, merging, enrolments restored as manual enrolments.
 */
function oracle_backup_and_restore(stdClass $course): array {
    global $CFG;
    $adminid = get_admin()->id;
    $started = microtime(true);

    $bc = new backup_controller(backup::TYPE_1COURSE, $course->id, backup::FORMAT_MOODLE, backup::INTERACTIVE_NO,
        backup::MODE_GENERAL, $adminid);
    oracle_plan_settings($bc->get_plan(), ['users' => 1, 'role_assignments' => 1, 'anonymize' => 0]);
    $bc->execute_plan();
    $file = $bc->get_results()['backup_destination'];
    $bc->destroy();

    $backupid = 'oracle' . random_string(20);
    $file->extract_to_pathname(get_file_packer('application/vnd.moodle.backup'), make_backup_temp_directory($backupid));
    $file->delete();

    $rc = new restore_controller($backupid, $course->id, backup::INTERACTIVE_NO, backup::MODE_GENERAL, $adminid,
        backup::TARGET_CURRENT_ADDING);
    oracle_plan_settings($rc->get_plan(), ['users' => 1, 'role_assignments' => 1, 'enrolments' => backup::ENROL_NEVER]);
    $rc->execute_precheck();
    $precheck = $rc->get_precheck_results();
    if (!empty($precheck['errors'])) {
        throw new moodle_exception('generalexceptionmessage', 'error', '',
            "restore precheck of {$course->shortname}: " . implode('; ', $precheck['errors']));
    }
    $rc->execute_plan();
    $rc->destroy();
    return ['seconds' => round(microtime(true) - $started, 2), 'warnings' => $precheck['warnings'] ?? []];
}

/**
 * Step 3, selection: the Participants page with "Match All of: Roles Any of [Student]; Status Any of [Active]",
 * every matching user selected. Returns user ids.
 */
function oracle_participants(stdClass $course, int $studentroleid): array {
    $filterset = new \core_user\table\participants_filterset();
    $filterset->set_join_type(filter::JOINTYPE_ALL);
    $filterset->add_filter(new integer_filter('courseid', filter::JOINTYPE_DEFAULT, [(int) $course->id]));
    $filterset->add_filter(new integer_filter('roles', filter::JOINTYPE_ANY, [$studentroleid]));
    $filterset->add_filter(new integer_filter('status', filter::JOINTYPE_ANY, [ENROL_USER_ACTIVE]));
    $search = new \core_user\table\participants_search($course, context_course::instance($course->id), $filterset);
    $userids = [];
    $rs = $search->get_participants();
    foreach ($rs as $record) {
        $userids[] = (int) $record->id;
    }
    $rs->close();
    sort($userids);
    return $userids;
}

/**
 * Step 3, change: "With selected users... Edit selected manual enrolments", end date only, as
 * user/action_redir.php runs it. Returns the user ids whose manual enrolments it edited.
 */
function oracle_edit_selected(stdClass $course, array $userids, int $end): array {
    global $PAGE;
    if (!$userids) {
        return [];
    }
    $instance = oracle_instance($course->id, 'manual');
    $manager = new course_enrolment_manager($PAGE, $course, $instance->id);
    $plugin = $manager->get_enrolment_plugins()['manual'];
    $operation = $plugin->get_bulk_operations($manager)['editselectedusers'];
    $users = array_filter($manager->get_users_enrolments($userids), function($user) {
        foreach ($user->enrolments as $enrolment) {
            if ($enrolment->enrolmentplugin->get_name() === 'manual') {
                return true;
            }
        }
        return false;
    });
    if (!$users) {
        return [];
    }
    if (!$operation->process($manager, $users, (object) ['status' => -1, 'timestart' => 0, 'timeend' => $end])) {
        throw new moodle_exception('errorwithbulkoperation', 'enrol');
    }
    $edited = array_map('intval', array_keys($users));
    sort($edited);
    return $edited;
}

/**
 * Names of the course's instances: the plugin, or cohort:<key> for a state's cohort.
 */
function oracle_instance_names(int $courseid, array $cohortkeys): array {
    $names = [];
    foreach (enrol_get_instances($courseid, false) as $instance) {
        $name = $instance->enrol;
        if ($instance->enrol === 'cohort') {
            $name = 'cohort:' . ($cohortkeys[(int) $instance->customint1] ?? $instance->customint1);
        }
        $names[$instance->id] = $name;
    }
    return $names;
}

/**
 * The course's enrol instances in Moodle's order: name, plugin, status, role, sortorder.
 */
function oracle_course_instances(stdClass $course, array $cohortkeys): array {
    global $DB;
    $names = oracle_instance_names($course->id, $cohortkeys);
    $rolenames = $DB->get_records_menu('role', null, '', 'id, shortname');
    $instances = [];
    foreach (enrol_get_instances($course->id, false) as $instance) {
        $instances[] = ['name' => $names[$instance->id], 'enrol' => $instance->enrol, 'status' => (int) $instance->status,
            'role' => $rolenames[$instance->roleid] ?? null, 'sortorder' => (int) $instance->sortorder];
    }
    return $instances;
}

/**
 * What one copy holds for each of the state's users: enrolments (every method), course role
 * assignments (component and instance), category roles, account suspension.
 */
function oracle_snapshot(stdClass $course, array $users, array $cohortkeys, core_course_category $category): array {
    global $DB;
    $names = oracle_instance_names($course->id, $cohortkeys);
    $instances = $DB->get_records('enrol', ['courseid' => $course->id], '', 'id, status');
    $rolenames = $DB->get_records_menu('role', null, '', 'id, shortname');
    $context = context_course::instance($course->id);
    $snapshot = ['instances' => oracle_course_instances($course, $cohortkeys), 'users' => []];
    foreach ($users as $key => $user) {
        $enrolments = [];
        [$insql, $params] = $DB->get_in_or_equal(array_keys($names) ?: [0]);
        $rows = $DB->get_records_select('user_enrolments', "enrolid $insql AND userid = ?", array_merge($params, [$user->id]),
            'enrolid');
        foreach ($rows as $ue) {
            $enrolments[] = ['instance' => $names[$ue->enrolid], 'instance_status' => (int) $instances[$ue->enrolid]->status,
                'status' => (int) $ue->status, 'timestart' => (int) $ue->timestart, 'timeend' => (int) $ue->timeend];
        }
        $roles = [];
        foreach ($DB->get_records('role_assignments', ['contextid' => $context->id, 'userid' => $user->id], 'id') as $ra) {
            $roles[] = ['role' => $rolenames[$ra->roleid], 'component' => $ra->component,
                'instance' => $ra->component === '' ? null : ($names[$ra->itemid] ?? (string) $ra->itemid)];
        }
        $categoryroles = [];
        foreach ($DB->get_records('role_assignments', ['contextid' => $category->get_context()->id, 'userid' => $user->id]) as $ra) {
            $categoryroles[] = $rolenames[$ra->roleid];
        }
        sort($categoryroles);
        $snapshot['users'][$key] = [
            'userid' => (int) $user->id,
            'username' => $user->username,
            'account_suspended' => (int) $DB->get_field('user', 'suspended', ['id' => $user->id]),
            'enrolments' => $enrolments,
            'roles' => $roles,
            'category_roles' => $categoryroles,
        ];
    }
    return $snapshot;
}

/**
 * The state's copies and what to name things by: courses, users, cohort keys.
 */
function oracle_load_state(array $state): array {
    global $DB, $CFG;
    $courses = [];
    foreach (ORACLE_COPIES as $copy) {
        $courses[$copy] = $DB->get_record('course', ['shortname' => oracle_shortname($state, $copy)], '*', MUST_EXIST);
    }
    $users = [];
    foreach (array_keys($state['users']) as $key) {
        $users[$key] = $DB->get_record('user', ['username' => oracle_username($state, $key),
            'mnethostid' => $CFG->mnet_localhost_id, 'deleted' => 0], '*', MUST_EXIST);
    }
    $cohortkeys = [];
    foreach (array_keys($state['cohorts'] ?? []) as $key) {
        $cohortkeys[(int) $DB->get_field('cohort', 'id', ['idnumber' => oracle_cohort_idnumber($state, $key)], MUST_EXIST)] = $key;
    }
    return [$courses, $users, $cohortkeys];
}

/**
 * Builds both copies of every state, then runs Moodle's procedure on the M copies.
 */
function oracle_prepare(array $states, int $anchor, int $end, progress_trace $trace): array {
    $started = microtime(true);
    $source = new enrol_database_oracle_source();
    $roleids = oracle_roleids();
    foreach (['manual', 'cohort', 'database', 'self'] as $name) {
        if (!enrol_is_enabled($name)) {
            throw new moodle_exception('generalexceptionmessage', 'error', '', "the enrolment plugin $name is not enabled");
        }
    }
    $category = oracle_category();
    $cleaned = oracle_clean($category, $source);

    // A database row the source drops stays suspended (not unenrolled) while the oracle runs, so that
    // the enrolment sync Moodle's restore runs first finds nothing to change.
    // Through the plugin object, whose settings are cached: set_config() alone would not reach its syncs.
    $unenrolaction = $source->get_config('unenrolaction');
    $source->set_config('unenrolaction', ENROL_EXT_REMOVED_SUSPEND);
    try {
        $built = [];
        foreach ($states as $state) {
            $users = oracle_users($state);
            $cohorts = oracle_cohorts($state, $users);
            foreach (ORACLE_COPIES as $copy) {
                oracle_build_copy($state, $copy, $category, $users, $cohorts, $roleids, $anchor, $source, $trace);
            }
            oracle_user_extras($state, $users, $category, $roleids);
        }
        $buildseconds = round(microtime(true) - $started, 1);
        $result = [];
        foreach ($states as $state) {
            [$courses, $users, $cohortkeys] = oracle_load_state($state);
            $before = [];
            foreach (ORACLE_COPIES as $copy) {
                $before[$copy] = oracle_snapshot($courses[$copy], $users, $cohortkeys, $category);
            }
            $restore = oracle_backup_and_restore($courses['M']);
            $restored = oracle_snapshot($courses['M'], $users, $cohortkeys, $category);
            $selected = oracle_participants($courses['M'], $roleids['student']);
            $edited = oracle_edit_selected($courses['M'], $selected, $end);
            $keys = array_flip(array_map(fn($u) => (int) $u->id, $users));
            $result[$state['name']] = [
                'courses' => array_map(fn($c) => ['id' => (int) $c->id, 'shortname' => $c->shortname], $courses),
                'before' => $before,
                'restored' => $restored,
                'selected' => array_values(array_map(fn($id) => $keys[$id] ?? (string) $id, $selected)),
                'edited' => array_values(array_map(fn($id) => $keys[$id] ?? (string) $id, $edited)),
                'restore' => $restore,
            ];
        }
    } finally {
        $source->set_config('unenrolaction', $unenrolaction);
    }
    return ['cleaned' => $cleaned, 'build_seconds' => $buildseconds, 'states' => $result];
}

/**
 * What both copies of every state hold now.
 */
function oracle_read(array $states): array {
    $category = oracle_category();
    $result = [];
    foreach ($states as $state) {
        [$courses, $users, $cohortkeys] = oracle_load_state($state);
        foreach (ORACLE_COPIES as $copy) {
            $result[$state['name']][$copy] = oracle_snapshot($courses[$copy], $users, $cohortkeys, $category);
        }
    }
    return ['states' => $result];
}

\core\session\manager::set_user(get_admin());
$oracleanchor = intdiv((int) ($oracleoptions['anchor'] ?? time()), ORACLE_DAY) * ORACLE_DAY;
$oraclestates = oracle_states($oracleoptions['states'] ?? (__DIR__ . '/oracle_states.json'), $oracleoptions['only'] ?? null);
$oracleaction = $oracleoptions['action'] ?? '';
$oracleoutput = ['moodle' => ['release' => $CFG->release, 'version' => $CFG->version],
    'timezone' => core_date::get_server_timezone(), 'anchor' => $oracleanchor];
if ($oracleaction === 'prepare') {
    if (empty($oracleoptions['end'])) {
        fwrite(STDERR, "--action=prepare needs --end=YYYY-MM-DD\n");
        exit(2);
    }
    $oracleend = oracle_end($oracleoptions['end']);
    $oracleoutput['end'] = $oracleend;
    $oracleoutput += oracle_prepare($oraclestates, $oracleanchor, $oracleend, new null_progress_trace());
} else if ($oracleaction === 'read') {
    $oracleoutput += oracle_read($oraclestates);
} else {
    fwrite(STDERR, "--action must be prepare or read\n\n" . $usage);
    exit(2);
}
fwrite(STDOUT, json_encode($oracleoutput, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
