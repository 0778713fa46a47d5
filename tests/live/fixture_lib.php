<?php
// Copyright: cemu.moodle contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * Shared by the live-fixture CLI scripts (build_fixture.php, drop_source.php):
 * the fixture's specification (one place), option parsing and Moodle helpers.
 *
 * Test data only: synthetic users studentNNNN / teacherNN, no real people.
 * Every change goes through Moodle's own APIs, except the rows of the
 * external enrolment table, which play the part of the school's source system.
 */

// The external "source system" table, read by enrol_database, in Moodle's own database.
const KEEPACCESS_SOURCE_TABLE = 'keepaccess_src_enrolments';
const KEEPACCESS_CATEGORY_IDNUMBER = 'KEEPACCESS-LIVE-FIXTURES';
const KEEPACCESS_CATEGORY_NAME = 'cemu.moodle live fixtures';
const KEEPACCESS_DEFAULT_BIG = 2000;
const KEEPACCESS_COURSE_START = 1767225600; // 2026-01-01T00:00:00Z.
const KEEPACCESS_COURSE_END = 1798675200;   // 2026-12-31T00:00:00Z.

/**
 * Usernames student<from>..student<to>, four digits at least.
 */
function keepaccess_students(int $from, int $to): array {
    $names = [];
    for ($i = $from; $i <= $to; $i++) {
        $names[] = sprintf('student%04d', $i);
    }
    return $names;
}

/**
 * The fixture: every user, course, source row, cohort and manual enrolment.
 *
 * Users are listed in creation order (on a fresh site teacher01 gets id 3,
 * student0001 id 5, student0201 id 70, student0301 id 94, as in the recordings).
 */
function keepaccess_fixture_spec(int $big): array {
    $ka3database = keepaccess_students(201, 210);
    $ka3cohort = keepaccess_students(211, 215);
    $ka3manual = keepaccess_students(216, 219);
    $courses = [
        'KA1' => [
            'idnumber' => 'KA-2026-1',
            'fullname' => 'KA1 - 30 students + 2 teachers via external database',
            'manualinstance' => true,
            'database' => array_merge(
                ['teacher01' => 'editingteacher', 'teacher02' => 'editingteacher'],
                array_fill_keys(keepaccess_students(1, 30), 'student')),
            'cohorts' => [],
            'manual' => [],
        ],
        'KA2' => [
            'idnumber' => 'KA-2026-2',
            'fullname' => 'KA2 - 25 students via cohort sync',
            'manualinstance' => true,
            'database' => [],
            'cohorts' => ['KA2-COHORT' => keepaccess_students(101, 125)],
            'manual' => [],
        ],
        'KA3' => [
            'idnumber' => 'KA-2026-3',
            'fullname' => 'KA3 - mixed: database, cohort, manual, suspended',
            'manualinstance' => true,
            'database' => array_fill_keys(
                array_merge($ka3database, ['student0220', 'student0221', 'student0222']), 'student'),
            'cohorts' => ['KA3-COHORT' => array_merge($ka3cohort, ['student0220'])],
            // Username => [role shortname, status (0 active, 1 suspended)].
            'manual' => array_merge(
                array_fill_keys($ka3manual, ['student', ENROL_USER_ACTIVE]),
                [
                    'student0221' => ['student', ENROL_USER_SUSPENDED], // Active via database, manual suspended.
                    'student0222' => ['student', ENROL_USER_ACTIVE],    // Active via database and manual.
                    'student0223' => ['student', ENROL_USER_SUSPENDED], // Manual only, suspended.
                    'student0224' => ['student', ENROL_USER_SUSPENDED],
                ]),
        ],
        'KA4' => [
            'idnumber' => 'KA-2026-4',
            'fullname' => 'KA4 - external database only, no manual enrolment instance',
            'manualinstance' => false,
            'database' => array_fill_keys(keepaccess_students(301, 310), 'student'),
            'cohorts' => [],
            'manual' => [],
        ],
        'BIG1' => [
            'idnumber' => 'KA-2026-BIG1',
            'fullname' => "BIG1 - {$big} students via external database",
            'manualinstance' => true,
            'database' => array_fill_keys(keepaccess_students(2001, 2000 + $big), 'student'),
            'cohorts' => [],
            'manual' => [],
        ],
    ];
    $users = array_merge(['teacher01', 'teacher02'], keepaccess_students(1, 40), keepaccess_students(101, 125),
        keepaccess_students(201, 224), keepaccess_students(301, 310), keepaccess_students(2001, 2000 + $big));
    return ['users' => $users, 'courses' => $courses];
}

/**
 * Loads the libraries the scripts use and acts as the site admin.
 */
function keepaccess_load_moodle(): void {
    global $CFG;
    require_once($CFG->dirroot . '/course/lib.php');
    require_once($CFG->dirroot . '/user/lib.php');
    require_once($CFG->dirroot . '/cohort/lib.php');
    require_once($CFG->dirroot . '/enrol/cohort/locallib.php');
    \core\session\manager::set_user(get_admin());
}

/**
 * Progress output of Moodle's syncs, to STDERR (STDOUT carries only the JSON summary).
 */
class keepaccess_stderr_trace extends progress_trace {
    /**
     * Writes one line of a sync's progress.
     */
    public function output($message, $depth = 0) {
        fwrite(STDERR, str_repeat('  ', $depth) . $message . "\n");
    }
}

/**
 * The trace handed to Moodle's syncs: STDERR when verbose, else silent.
 */
function keepaccess_trace(bool $verbose): progress_trace {
    return $verbose ? new keepaccess_stderr_trace() : new null_progress_trace();
}

/**
 * Source rows currently in the external table for the given course idnumbers, as "course|user|role" keys.
 */
function keepaccess_source_rows(array $courseidnumbers): array {
    global $DB;
    if (!$courseidnumbers) {
        return [];
    }
    [$insql, $params] = $DB->get_in_or_equal($courseidnumbers);
    $rs = $DB->get_recordset_sql('SELECT courseidnumber, username, roleshortname FROM ' . KEEPACCESS_SOURCE_TABLE .
        " WHERE courseidnumber $insql", $params);
    $rows = [];
    foreach ($rs as $row) {
        $rows[] = keepaccess_source_key($row->courseidnumber, $row->username, $row->roleshortname);
    }
    $rs->close();
    return $rows;
}

/**
 * The key of one source row.
 */
function keepaccess_source_key(string $courseidnumber, string $username, string $roleshortname): string {
    return "$courseidnumber|$username|$roleshortname";
}

/**
 * Deletes source rows given as keys; returns how many.
 */
function keepaccess_delete_source_rows(array $keys): int {
    global $DB;
    foreach ($keys as $key) {
        [$course, $user, $role] = explode('|', $key);
        $DB->execute('DELETE FROM ' . KEEPACCESS_SOURCE_TABLE .
            ' WHERE courseidnumber = ? AND username = ? AND roleshortname = ?', [$course, $user, $role]);
    }
    return count($keys);
}

/**
 * Runs enrol_database's enrolment sync (all courses, or one); fails loudly when it reports an error.
 */
function keepaccess_sync_database(progress_trace $trace, ?int $courseid = null): void {
    $plugin = enrol_get_plugin('database');
    if ($plugin->sync_enrolments($trace, $courseid) !== 0) {
        throw new moodle_exception('generalexceptionmessage', 'error', '',
            'enrol_database sync_enrolments failed (run with --verbose to see its output)');
    }
}

/**
 * The fixture's courses that exist on this site, shortname => course record.
 */
function keepaccess_existing_courses(array $shortnames): array {
    global $DB;
    [$insql, $params] = $DB->get_in_or_equal($shortnames);
    $courses = [];
    foreach ($DB->get_records_select('course', "shortname $insql", $params) as $course) {
        $courses[$course->shortname] = $course;
    }
    return $courses;
}

/**
 * What a course holds now: instances, enrolments per method and status, role assignments per component and role.
 */
function keepaccess_course_counts(stdClass $course): array {
    global $DB;
    $instances = [];
    foreach ($DB->get_records('enrol', ['courseid' => $course->id], 'sortorder, id') as $instance) {
        $instances[] = ['id' => (int) $instance->id, 'enrol' => $instance->enrol, 'status' => (int) $instance->status];
    }
    $enrolments = [];
    $sql = 'SELECT e.enrol, ue.status, COUNT(1) AS n
              FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
             WHERE e.courseid = ? GROUP BY e.enrol, ue.status ORDER BY e.enrol, ue.status';
    foreach ($DB->get_recordset_sql($sql, [$course->id]) as $row) {
        $enrolments[$row->enrol][$row->status == ENROL_USER_ACTIVE ? 'active' : 'suspended'] = (int) $row->n;
    }
    $roles = [];
    $sql = "SELECT ra.component, r.shortname, COUNT(1) AS n
              FROM {role_assignments} ra JOIN {role} r ON r.id = ra.roleid
             WHERE ra.contextid = ? GROUP BY ra.component, r.shortname ORDER BY ra.component, r.shortname";
    $context = context_course::instance($course->id);
    foreach ($DB->get_recordset_sql($sql, [$context->id]) as $row) {
        $roles[($row->component === '' ? 'manual' : $row->component)][$row->shortname] = (int) $row->n;
    }
    $users = (int) $DB->count_records_sql('SELECT COUNT(DISTINCT ue.userid) FROM {user_enrolments} ue
        JOIN {enrol} e ON e.id = ue.enrolid WHERE e.courseid = ?', [$course->id]);
    return [
        'id' => (int) $course->id,
        'shortname' => $course->shortname,
        'idnumber' => $course->idnumber,
        'users' => $users,
        'instances' => $instances,
        'enrolments' => $enrolments,
        'roleassignments' => $roles,
    ];
}

/**
 * Prints the summary as JSON on STDOUT.
 */
function keepaccess_print_json(array $summary): void {
    fwrite(STDOUT, json_encode($summary, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
}
