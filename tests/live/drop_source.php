<?php
// Copyright: cemu.moodle contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * Plays "1 September": the source drops every user of the fixture courses. Deletes their rows from
 * the external enrolment table and empties their cohorts (Moodle's cohort_remove_member), then runs
 * enrol_database's and cohort sync, so Moodle unenrols whoever has no other enrolment.
 * Prints the counts before and after as JSON on STDOUT.
 *
 *   sudo -u www-data php tests/live/drop_source.php --moodle=/var/www/moodle [--courses=KA1,KA3]
 *
 * build_fixture.php puts the source back.
 */

define('CLI_SCRIPT', true);

require(__DIR__ . '/cli_options.php');

$usage = <<<EOT
Drops every user of the cemu.moodle live-fixture courses from the enrolment source and syncs.

Options:
  --moodle=DIR      Moodle directory holding config.php (5.1: the directory above public/)
  --courses=A,B     only these fixture courses (shortnames; default all)
  --verbose         show Moodle's sync output on STDERR
  -h, --help        this help

EOT;
$keepaccessoptions = keepaccess_cli_options($usage, ['courses:', 'verbose']);

require($keepaccessoptions['moodle'] . '/config.php');
require(__DIR__ . '/fixture_lib.php');

/**
 * The fixture's course specs selected by --courses (all when absent); exits on an unknown shortname.
 */
function keepaccess_selected_courses(array $all, ?string $option): array {
    if ($option === null || $option === '') {
        return $all;
    }
    $selected = [];
    foreach (array_map('trim', explode(',', $option)) as $shortname) {
        if (!isset($all[$shortname])) {
            fwrite(STDERR, "--courses: '{$shortname}' is not a fixture course (" . implode(', ', array_keys($all)) . ")\n");
            exit(2);
        }
        $selected[$shortname] = $all[$shortname];
    }
    return $selected;
}

/**
 * Deletes every source row of these course idnumbers; returns how many.
 */
function keepaccess_delete_course_source_rows(array $idnumbers): int {
    global $DB;
    [$insql, $params] = $DB->get_in_or_equal($idnumbers);
    $where = ' FROM ' . KEEPACCESS_SOURCE_TABLE . " WHERE courseidnumber $insql";
    $count = (int) $DB->count_records_sql('SELECT COUNT(1)' . $where, $params);
    $DB->execute('DELETE' . $where, $params);
    return $count;
}

/**
 * Removes every member of the cohorts of these courses (Moodle unenrols them at once); returns how many.
 */
function keepaccess_empty_cohorts(array $courses): int {
    global $DB;
    $removed = 0;
    foreach ($courses as $spec) {
        foreach (array_keys($spec['cohorts']) as $idnumber) {
            $cohortid = $DB->get_field('cohort', 'id', ['idnumber' => $idnumber]);
            if (!$cohortid) {
                continue;
            }
            foreach ($DB->get_fieldset_select('cohort_members', 'userid', 'cohortid = ?', [$cohortid]) as $userid) {
                cohort_remove_member($cohortid, $userid);
                $removed++;
            }
        }
    }
    return $removed;
}

/**
 * Counts of every existing selected course.
 */
function keepaccess_counts_of(array $courses): array {
    $counts = [];
    foreach (keepaccess_existing_courses(array_keys($courses)) as $shortname => $course) {
        $counts[$shortname] = keepaccess_course_counts($course);
    }
    return $counts;
}

/**
 * Drops the source of the selected courses and syncs; returns the summary.
 */
function keepaccess_drop_source(array $courses, progress_trace $trace): array {
    $started = microtime(true);
    $before = keepaccess_counts_of($courses);
    $rowsdeleted = keepaccess_delete_course_source_rows(array_column($courses, 'idnumber'));
    $membersremoved = keepaccess_empty_cohorts($courses);
    // One sync per course: a sync of all courses refuses to unenrol anybody when the
    // external table is empty ("Preventing unenrolment of all current users").
    foreach (keepaccess_existing_courses(array_keys($courses)) as $course) {
        keepaccess_sync_database($trace, (int) $course->id);
        enrol_cohort_sync($trace, $course->id);
    }
    return [
        'source_rows_deleted' => $rowsdeleted,
        'cohort_members_removed' => $membersremoved,
        'before' => $before,
        'after' => keepaccess_counts_of($courses),
        'seconds' => round(microtime(true) - $started, 1),
    ];
}

keepaccess_load_moodle();
$keepaccessspec = keepaccess_fixture_spec(KEEPACCESS_DEFAULT_BIG);
keepaccess_print_json(keepaccess_drop_source(
    keepaccess_selected_courses($keepaccessspec['courses'], $keepaccessoptions['courses'] ?? null),
    keepaccess_trace(isset($keepaccessoptions['verbose']))));
