<?php
// This file is part of the cemu.moodle Ansible collection's benchmarks.
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * One local_keepaccess_apply_manual_enrolments call for every student of a course, timed on the server.
 *
 * What the role's restore sends for a 2,000-student course with the end date folded in: per student a
 * new manual enrolment (status 0, start 0, the end) and the student role as a manual copy, all in ONE
 * call (one transaction), as the admin, through Moodle's external API (parameter validation, the
 * function, return cleaning) but without HTTP. Prints one JSON line: rows, seconds, database reads and
 * writes. Run it under Xdebug's profiler (bench_real_moodle.py --profile) to see where the time goes.
 * It WRITES to the course: run it on a test site and reset it afterwards.
 *
 *     php tests/bench/moodle_apply_profile.php --moodle=/root/rm45/src --course=BIG1 --end=1806443999
 */

define('CLI_SCRIPT', true);
define('WS_SERVER', true);      // as the REST server: external_api's web-service path, no session key

require_once(__DIR__ . '/../live/cli_options.php');
$usage = "php moodle_apply_profile.php --moodle=DIR --course=SHORTNAME --end=UNIXTIME [--rows=N] [--undo]\n"
    . "  --undo: remove the manual enrolments and role copies instead (local_keepaccess_remove_manual_enrolments),\n"
    . "          so that the next profile run creates them again without resetting the site\n";
$options = keepaccess_cli_options($usage, ['course:', 'end:', 'rows:', 'undo']);
require($options['moodle'] . '/config.php');

\core\session\manager::set_user(get_admin());
$course = $DB->get_record('course', ['shortname' => $options['course']], '*', MUST_EXIST);
$context = context_course::instance($course->id);
$studentrole = (int) $DB->get_field('role', 'id', ['shortname' => 'student'], MUST_EXIST);
$userids = $DB->get_fieldset_sql(
    "SELECT DISTINCT ra.userid FROM {role_assignments} ra
      WHERE ra.contextid = :contextid AND ra.roleid = :roleid AND ra.component <> ''
   ORDER BY ra.userid", ['contextid' => $context->id, 'roleid' => $studentrole]);
$limit = keepaccess_int_option($options, 'rows', 0);
if ($limit > 0) {
    $userids = array_slice($userids, 0, $limit);
}
$end = keepaccess_int_option($options, 'end', 0);
$rows = array_map(function($userid) use ($end, $studentrole) {
    return ['userid' => (int) $userid, 'status' => 0, 'timestart' => 0, 'timeend' => $end, 'roleids' => [$studentrole]];
}, $userids);

if (isset($options['undo'])) {
    $function = 'local_keepaccess_remove_manual_enrolments';
    $rows = array_map(fn($row) => ['userid' => $row['userid'], 'unenrol' => 1, 'roleids' => $row['roleids']], $rows);
    $arguments = ['courseid' => (int) $course->id, 'enrolments' => $rows, 'runid' => '', 'step' => 'revert'];
} else {
    $function = 'local_keepaccess_apply_manual_enrolments';
    $arguments = ['courseid' => (int) $course->id, 'enrolments' => $rows, 'sendwelcome' => 0, 'runid' => '',
        'step' => 'restore'];
}
$reads = $DB->perf_get_reads();
$writes = $DB->perf_get_writes();
$started = microtime(true);
$answer = \core_external\external_api::call_external_function($function, $arguments);
$seconds = microtime(true) - $started;
if (!empty($answer['error'])) {
    fwrite(STDERR, json_encode($answer['exception']) . "\n");
    exit(1);
}
$created = count(array_filter($answer['data'], fn($row) => ($row['result'] ?? '') === 'created'));
echo json_encode(['function' => $function, 'course' => $course->shortname, 'rows' => count($rows), 'created' => $created,
    'seconds' => round($seconds, 3), 'ms_per_row' => count($rows) ? round(1000 * $seconds / count($rows), 3) : 0,
    'db_reads' => $DB->perf_get_reads() - $reads, 'db_writes' => $DB->perf_get_writes() - $writes]) . "\n";
