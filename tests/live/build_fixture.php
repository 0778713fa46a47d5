<?php
// Copyright: cemu.moodle contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * Builds (or brings back) the live-test fixture in a real Moodle through Moodle's own APIs:
 * users, courses KA1..KA4 and BIG1, enrol instances, cohorts, the external enrolment table
 * read by enrol_database, then enrol_database's and cohort sync.
 *
 * Idempotent: a re-run reuses what exists and puts every fixture course back as specified
 * (source rows, cohort members, manual enrolments and manual roles, manual instances),
 * so it also resets the fixture after a live run. Prints a JSON summary on STDOUT.
 *
 * Run it as the web server's user, e.g.
 *   sudo -u www-data php tests/live/build_fixture.php --moodle=/var/www/moodle [--big=2000]
 */

define('CLI_SCRIPT', true);

require(__DIR__ . '/cli_options.php');

$usage = <<<EOT
Builds the cemu.moodle live-test fixture in a Moodle (4.1 .. 5.1).

Options:
  --moodle=DIR   Moodle directory holding config.php (5.1: the directory above public/)
  --big=N        students in BIG1 (default 2000)
  --verbose      show Moodle's sync output on STDERR
  -h, --help     this help

EOT;
$keepaccessoptions = keepaccess_cli_options($usage, ['big:', 'verbose']);

require($keepaccessoptions['moodle'] . '/config.php');
require(__DIR__ . '/fixture_lib.php');

$keepaccessbig = keepaccess_int_option($keepaccessoptions, 'big', KEEPACCESS_DEFAULT_BIG);

/**
 * Turns on the enrolment plugins the fixture uses.
 */
function keepaccess_enable_enrol_plugins(): void {
    foreach (['manual', 'cohort', 'database'] as $name) {
        if (!enrol_is_enabled($name)) {
            \core\plugininfo\enrol::enable_plugin($name, 1);
        }
    }
}

/**
 * The ADOdb driver and host enrol_database needs to reach Moodle's own database.
 */
function keepaccess_external_db_connection(): array {
    global $CFG;
    $drivers = ['pgsql' => 'postgres', 'mysqli' => 'mysqli', 'mariadb' => 'mysqli', 'auroramysql' => 'mysqli'];
    if (!isset($drivers[$CFG->dbtype])) {
        throw new moodle_exception('generalexceptionmessage', 'error', '',
            "the fixture's external table needs PostgreSQL or MySQL/MariaDB, this site uses {$CFG->dbtype}");
    }
    $host = $CFG->dbhost;
    if (!empty($CFG->dboptions['dbport'])) {
        $host .= ':' . $CFG->dboptions['dbport'];
    }
    return ['dbtype' => $drivers[$CFG->dbtype], 'dbhost' => $host];
}

/**
 * Points enrol_database at the fixture's table; returns how many settings changed.
 */
function keepaccess_configure_database_enrolment(int $studentroleid): int {
    global $CFG;
    $settings = keepaccess_external_db_connection() + [
        'dbuser' => $CFG->dbuser,
        'dbpass' => $CFG->dbpass,
        'dbname' => $CFG->dbname,
        'dbencoding' => 'utf-8',
        'dbsetupsql' => '',
        'remoteenroltable' => KEEPACCESS_SOURCE_TABLE,
        'remotecoursefield' => 'courseidnumber',
        'remoteuserfield' => 'username',
        'remoterolefield' => 'roleshortname',
        'remoteotheruserfield' => '',
        'localcoursefield' => 'idnumber',
        'localuserfield' => 'username',
        'localrolefield' => 'shortname',
        'defaultrole' => $studentroleid,
        'ignorehiddencourses' => 0,
        'unenrolaction' => ENROL_EXT_REMOVED_UNENROL,
    ];
    $changed = 0;
    foreach ($settings as $name => $value) {
        if ((string) get_config('enrol_database', $name) !== (string) $value) {
            set_config($name, $value, 'enrol_database');
            $changed++;
        }
    }
    if ((string) get_config('enrol_cohort', 'unenrolaction') !== (string) ENROL_EXT_REMOVED_UNENROL) {
        set_config('unenrolaction', ENROL_EXT_REMOVED_UNENROL, 'enrol_cohort');
        $changed++;
    }
    return $changed;
}

/**
 * Creates the external enrolment table when missing.
 */
function keepaccess_ensure_source_table(): void {
    global $DB;
    $DB->execute('CREATE TABLE IF NOT EXISTS ' . KEEPACCESS_SOURCE_TABLE . ' (
        courseidnumber VARCHAR(100) NOT NULL,
        username VARCHAR(100) NOT NULL,
        roleshortname VARCHAR(100) NOT NULL,
        PRIMARY KEY (courseidnumber, username, roleshortname))');
}

/**
 * The fixture's course category, created when missing.
 */
function keepaccess_ensure_category(): int {
    global $DB;
    $id = $DB->get_field('course_categories', 'id', ['idnumber' => KEEPACCESS_CATEGORY_IDNUMBER]);
    if ($id) {
        return (int) $id;
    }
    return (int) core_course_category::create(['name' => KEEPACCESS_CATEGORY_NAME,
        'idnumber' => KEEPACCESS_CATEGORY_IDNUMBER])->id;
}

/**
 * A new fixture account (auth manual, no password: it cannot log in).
 */
function keepaccess_new_user(string $username): stdClass {
    global $CFG;
    $teacher = strpos($username, 'teacher') === 0;
    $number = (int) preg_replace('/\D/', '', $username);
    $words = [1 => 'One', 2 => 'Two'];
    return (object) [
        'username' => $username,
        'auth' => 'manual',
        'confirmed' => 1,
        'mnethostid' => $CFG->mnet_localhost_id,
        'firstname' => $teacher ? 'Teacher' : 'Student',
        'lastname' => $teacher ? ($words[$number] ?? (string) $number) : sprintf('%04d', $number),
        'email' => $username . '@example.com',
        'idnumber' => 'ID-' . $username,
        'city' => 'Testcity',
        'country' => 'DE',
    ];
}

/**
 * Every fixture account, created when missing and unsuspended; returns [username => id, created count].
 */
function keepaccess_ensure_users(array $usernames): array {
    global $DB, $CFG;
    $ids = [];
    $suspended = [];
    foreach (array_chunk($usernames, 1000) as $chunk) {
        [$insql, $params] = $DB->get_in_or_equal($chunk);
        $params[] = $CFG->mnet_localhost_id;
        $rows = $DB->get_records_select('user', "username $insql AND mnethostid = ? AND deleted = 0", $params,
            '', 'id, username, suspended');
        foreach ($rows as $row) {
            $ids[$row->username] = (int) $row->id;
            if ($row->suspended) {
                $suspended[] = (int) $row->id;
            }
        }
    }
    foreach ($suspended as $id) {
        user_update_user((object) ['id' => $id, 'suspended' => 0], false);
    }
    $created = 0;
    foreach ($usernames as $username) {
        if (!isset($ids[$username])) {
            $ids[$username] = (int) user_create_user(keepaccess_new_user($username), false);
            $created++;
        }
    }
    return [$ids, $created, count($suspended)];
}

/**
 * The course with this shortname, created (or its idnumber/name put back) as specified.
 */
function keepaccess_ensure_course(string $shortname, array $spec, int $categoryid): stdClass {
    global $DB;
    $course = $DB->get_record('course', ['shortname' => $shortname]);
    if (!$course) {
        return create_course((object) [
            'category' => $categoryid,
            'shortname' => $shortname,
            'fullname' => $spec['fullname'],
            'idnumber' => $spec['idnumber'],
            'summary' => $spec['fullname'],
            'summaryformat' => FORMAT_HTML,
            'format' => 'topics',
            'startdate' => KEEPACCESS_COURSE_START,
            'enddate' => KEEPACCESS_COURSE_END,
        ]);
    }
    if ($course->idnumber !== $spec['idnumber'] || $course->fullname !== $spec['fullname']) {
        update_course((object) ['id' => $course->id, 'idnumber' => $spec['idnumber'], 'fullname' => $spec['fullname']]);
        $course = $DB->get_record('course', ['id' => $course->id], '*', MUST_EXIST);
    }
    return $course;
}

/**
 * Gives the course exactly the manual instance the spec asks for (one, enabled) or none.
 */
function keepaccess_ensure_manual_instance(stdClass $course, bool $wanted): void {
    $plugin = enrol_get_plugin('manual');
    $instances = enrol_get_instances($course->id, false);
    $manual = array_values(array_filter($instances, fn($i) => $i->enrol === 'manual'));
    if (!$wanted) {
        foreach ($manual as $instance) {
            $plugin->delete_instance($instance);
        }
        return;
    }
    if (!$manual) {
        $plugin->add_default_instance($course);
    } else if ($manual[0]->status != ENROL_INSTANCE_ENABLED) {
        $plugin->update_status($manual[0], ENROL_INSTANCE_ENABLED);
    }
}

/**
 * One enabled enrol_database instance when the spec feeds the course from the source, none otherwise.
 */
function keepaccess_ensure_database_instance(stdClass $course, bool $wanted): void {
    $plugin = enrol_get_plugin('database');
    $instances = array_values(array_filter(enrol_get_instances($course->id, false), fn($i) => $i->enrol === 'database'));
    if (!$wanted) {
        foreach ($instances as $instance) {
            $plugin->delete_instance($instance);
        }
    } else if (!$instances) {
        $plugin->add_instance($course);
    } else if ($instances[0]->status != ENROL_INSTANCE_ENABLED) {
        $plugin->update_status($instances[0], ENROL_INSTANCE_ENABLED);
    }
}

/**
 * The cohort with this idnumber (system context), created when missing.
 */
function keepaccess_ensure_cohort(string $idnumber): int {
    global $DB;
    $id = $DB->get_field('cohort', 'id', ['idnumber' => $idnumber]);
    if ($id) {
        return (int) $id;
    }
    return (int) cohort_add_cohort((object) ['contextid' => context_system::instance()->id,
        'name' => $idnumber, 'idnumber' => $idnumber, 'description' => 'cemu.moodle live fixture']);
}

/**
 * One enabled cohort-sync instance per cohort of the spec (role student); other cohort instances removed.
 */
function keepaccess_ensure_cohort_instances(stdClass $course, array $cohortids, int $studentroleid): void {
    $plugin = enrol_get_plugin('cohort');
    $instances = array_filter(enrol_get_instances($course->id, false), fn($i) => $i->enrol === 'cohort');
    $present = [];
    foreach ($instances as $instance) {
        if (!in_array((int) $instance->customint1, $cohortids, true) || isset($present[$instance->customint1])) {
            $plugin->delete_instance($instance);
            continue;
        }
        $present[$instance->customint1] = true;
        if ($instance->status != ENROL_INSTANCE_ENABLED) {
            $plugin->update_status($instance, ENROL_INSTANCE_ENABLED);
        }
    }
    foreach ($cohortids as $cohortid) {
        if (!isset($present[$cohortid])) {
            $plugin->add_instance($course, ['customint1' => $cohortid, 'roleid' => $studentroleid,
                'customint2' => 0, 'status' => ENROL_INSTANCE_ENABLED]);
        }
    }
}

/**
 * Makes the cohort's members exactly these users; returns [added, removed].
 */
function keepaccess_ensure_cohort_members(int $cohortid, array $userids): array {
    global $DB;
    $current = array_map('intval', $DB->get_fieldset_select('cohort_members', 'userid', 'cohortid = ?', [$cohortid]));
    $toadd = array_diff($userids, $current);
    $toremove = array_diff($current, $userids);
    foreach ($toadd as $userid) {
        cohort_add_member($cohortid, $userid);
    }
    foreach ($toremove as $userid) {
        cohort_remove_member($cohortid, $userid);
    }
    return [count($toadd), count($toremove)];
}

/**
 * Makes the external table hold exactly the spec's rows for the fixture courses; returns [inserted, deleted].
 */
function keepaccess_ensure_source_rows(array $courses): array {
    global $DB;
    $wanted = [];
    foreach ($courses as $spec) {
        foreach ($spec['database'] as $username => $role) {
            $wanted[] = keepaccess_source_key($spec['idnumber'], $username, $role);
        }
    }
    $current = keepaccess_source_rows(array_column($courses, 'idnumber'));
    $deleted = keepaccess_delete_source_rows(array_values(array_diff($current, $wanted)));
    $missing = array_values(array_diff($wanted, $current));
    foreach (array_chunk($missing, 500) as $chunk) {
        $params = [];
        foreach ($chunk as $key) {
            array_push($params, ...explode('|', $key));
        }
        $values = implode(', ', array_fill(0, count($chunk), '(?, ?, ?)'));
        $DB->execute('INSERT INTO ' . KEEPACCESS_SOURCE_TABLE .
            " (courseidnumber, username, roleshortname) VALUES $values", $params);
    }
    return [count($missing), $deleted];
}

/**
 * Makes the course's manual enrolments and manual (component '') role assignments exactly the spec's,
 * with no start or end date; returns counts of what changed.
 */
function keepaccess_ensure_manual_enrolments(stdClass $course, array $manualspec, array $userids, array $roleids): array {
    global $DB;
    $changes = ['created' => 0, 'updated' => 0, 'unenrolled' => 0, 'rolesunassigned' => 0];
    $plugin = enrol_get_plugin('manual');
    $instance = null;
    foreach (enrol_get_instances($course->id, true) as $candidate) {
        if ($candidate->enrol === 'manual') {
            $instance = $candidate;
            break;
        }
    }
    $wanted = [];
    foreach ($manualspec as $username => [$role, $status]) {
        $wanted[$userids[$username]] = ['roleid' => (int) $roleids[$role], 'status' => $status];
    }
    if ($wanted && !$instance) {
        throw new moodle_exception('generalexceptionmessage', 'error', '',
            "course {$course->shortname} needs an enabled manual instance for its manual enrolments");
    }
    $context = context_course::instance($course->id);
    if ($instance) {
        $existing = $DB->get_records('user_enrolments', ['enrolid' => $instance->id], '', 'userid, status, timestart, timeend');
        foreach ($wanted as $userid => $want) {
            $ue = $existing[$userid] ?? null;
            if (!$ue) {
                $plugin->enrol_user($instance, $userid, $want['roleid'], 0, 0, $want['status']);
                $changes['created']++;
            } else if ($ue->status != $want['status'] || $ue->timestart != 0 || $ue->timeend != 0) {
                $plugin->update_user_enrol($instance, $userid, $want['status'], 0, 0);
                $changes['updated']++;
            }
            role_assign($want['roleid'], $userid, $context->id);
        }
        foreach (array_diff_key($existing, $wanted) as $userid => $ue) {
            $plugin->unenrol_user($instance, $userid);
            $changes['unenrolled']++;
        }
    }
    $manualroles = $DB->get_records('role_assignments', ['contextid' => $context->id, 'component' => '', 'itemid' => 0]);
    foreach ($manualroles as $ra) {
        if (($wanted[$ra->userid]['roleid'] ?? null) !== (int) $ra->roleid) {
            role_unassign($ra->roleid, $ra->userid, $context->id);
            $changes['rolesunassigned']++;
        }
    }
    return $changes;
}

/**
 * Forgets what runs of the collection did to the fixture courses (local_keepaccess's history and claims):
 * the fixture is put back outside the plugin, so that history no longer describes the courses.
 *
 * @param stdClass[] $courses
 * @return int history records deleted
 */
function keepaccess_forget_history(array $courses): int {
    global $DB;
    $manager = $DB->get_manager();
    if (!$courses || !$manager->table_exists('local_keepaccess_history')) {
        return 0;
    }
    [$insql, $params] = $DB->get_in_or_equal(array_column($courses, 'id'));
    $count = $DB->count_records_select('local_keepaccess_history', "courseid $insql", $params);
    $DB->delete_records_select('local_keepaccess_history', "courseid $insql", $params);
    if ($manager->table_exists('local_keepaccess_lease')) {
        $DB->delete_records_select('local_keepaccess_lease', "courseid $insql", $params);
    }
    return $count;
}

/**
 * Builds or restores the whole fixture; returns the summary.
 */
function keepaccess_build_fixture(int $big, progress_trace $trace): array {
    global $CFG, $DB;
    $started = microtime(true);
    $spec = keepaccess_fixture_spec($big);
    $roleids = $DB->get_records_menu('role', null, '', 'shortname, id');

    keepaccess_enable_enrol_plugins();
    $settingschanged = keepaccess_configure_database_enrolment((int) $roleids['student']);
    keepaccess_ensure_source_table();
    [$userids, $userscreated, $usersunsuspended] = keepaccess_ensure_users($spec['users']);
    $categoryid = keepaccess_ensure_category();

    $courses = [];
    $cohorts = [];
    $manualchanges = [];
    foreach ($spec['courses'] as $shortname => $coursespec) {
        $course = keepaccess_ensure_course($shortname, $coursespec, $categoryid);
        $courses[$shortname] = $course;
        keepaccess_ensure_manual_instance($course, $coursespec['manualinstance']);
        keepaccess_ensure_database_instance($course, (bool) $coursespec['database']);
        $cohortids = [];
        foreach ($coursespec['cohorts'] as $idnumber => $members) {
            $cohortid = keepaccess_ensure_cohort($idnumber);
            $cohortids[] = $cohortid;
            [$added, $removed] = keepaccess_ensure_cohort_members($cohortid,
                array_map(fn($u) => $userids[$u], $members));
            $cohorts[$idnumber] = ['id' => $cohortid, 'members' => count($members), 'added' => $added, 'removed' => $removed];
        }
        keepaccess_ensure_cohort_instances($course, $cohortids, (int) $roleids['student']);
        $manualchanges[$shortname] = keepaccess_ensure_manual_enrolments($course, $coursespec['manual'], $userids, $roleids);
    }
    [$inserted, $deleted] = keepaccess_ensure_source_rows($spec['courses']);
    $historyforgotten = keepaccess_forget_history($courses);

    keepaccess_sync_database($trace);
    foreach ($courses as $course) {
        enrol_cohort_sync($trace, $course->id);
    }

    $summary = [
        'moodle' => ['release' => $CFG->release, 'wwwroot' => $CFG->wwwroot],
        'source_table' => KEEPACCESS_SOURCE_TABLE,
        'settings_changed' => $settingschanged,
        'users' => ['total' => count($userids), 'created' => $userscreated, 'unsuspended' => $usersunsuspended,
            'first_ids' => array_intersect_key($userids, array_flip(['teacher01', 'student0001', 'student0201', 'student0301']))],
        'source_rows' => ['total' => count(keepaccess_source_rows(array_column($spec['courses'], 'idnumber'))),
            'inserted' => $inserted, 'deleted' => $deleted],
        'cohorts' => $cohorts,
        'manual_changes' => $manualchanges,
        'history_forgotten' => $historyforgotten,
        'courses' => [],
    ];
    foreach ($courses as $shortname => $course) {
        $summary['courses'][$shortname] = keepaccess_course_counts($course);
    }
    $summary['seconds'] = round(microtime(true) - $started, 1);
    return $summary;
}

keepaccess_load_moodle();
keepaccess_print_json(keepaccess_build_fixture($keepaccessbig,
    keepaccess_trace(isset($keepaccessoptions['verbose']))));
