<?php
// This file is part of the cemu.moodle Ansible collection's benchmarks.
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * Moodle's own procedure for one course, timed: backup with users and role assignments only, then restore
 * into the same course, merging, with "restore users as manual enrolments" (enrolments = ENROL_NEVER),
 * through Moodle's backup and restore controllers, as the admin. The reference bench_real_moodle.py
 * compares the collection with. Prints one JSON line: backup and restore seconds, manual enrolments after.
 * It WRITES to the course: run it on a test site and reset it afterwards.
 *
 *     php tests/bench/moodle_backup_restore.php --moodle=/root/rm45/src --course=BIG1
 */

define('CLI_SCRIPT', true);

require_once(__DIR__ . '/../live/cli_options.php');
$usage = "php moodle_backup_restore.php --moodle=DIR --course=SHORTNAME\n";
$options = keepaccess_cli_options($usage, ['course:']);
require($options['moodle'] . '/config.php');
require_once($CFG->dirroot . '/backup/util/includes/backup_includes.php');
require_once($CFG->dirroot . '/backup/util/includes/restore_includes.php');

/** Root settings kept on; every other changeable root setting is turned off ("users + role assignments only"). */
const KEEP_ON = ['users', 'role_assignments'];

/**
 * Turns the plan's root settings into "users and role assignments only"; returns what was set.
 *
 * @param base_plan $plan
 * @param array $values [name => value] set as given
 * @return array [name => value]
 */
function keepaccess_bench_settings(base_plan $plan, array $values): array {
    $set = [];
    foreach ($plan->get_settings() as $name => $setting) {
        if (!($setting instanceof backup_setting) || $setting->get_level() !== backup_setting::ROOT_LEVEL) {
            continue;
        }
        $value = array_key_exists($name, $values) ? $values[$name] : (in_array($name, KEEP_ON, true) ? 1 : 0);
        if ($name === 'filename' || $setting->get_value() === $value) {
            continue;
        }
        if ($setting->get_status() !== base_setting::NOT_LOCKED) {
            continue;
        }
        $setting->set_value($value);
        $set[$name] = $value;
    }
    return $set;
}

$admin = get_admin();
\core\session\manager::set_user($admin);
$course = $DB->get_record('course', ['shortname' => $options['course']], '*', MUST_EXIST);

$started = microtime(true);
$bc = new backup_controller(backup::TYPE_1COURSE, $course->id, backup::FORMAT_MOODLE, backup::INTERACTIVE_NO,
    backup::MODE_GENERAL, $admin->id);
$backupsettings = keepaccess_bench_settings($bc->get_plan(), []);
$bc->execute_plan();
$file = $bc->get_results()['backup_destination'];
$bc->destroy();
$backupseconds = microtime(true) - $started;

$started = microtime(true);
$folder = 'keepaccess_bench_' . $course->id . '_' . time();
$file->extract_to_pathname(get_file_packer('application/vnd.moodle.backup'), make_backup_temp_directory($folder));
$rc = new restore_controller($folder, $course->id, backup::INTERACTIVE_NO, backup::MODE_GENERAL, $admin->id,
    backup::TARGET_CURRENT_ADDING);
$restoresettings = keepaccess_bench_settings($rc->get_plan(), ['enrolments' => backup::ENROL_NEVER]);
if (!$rc->execute_precheck()) {
    $errors = $rc->get_precheck_results()['errors'] ?? [];
    if ($errors) {
        fwrite(STDERR, 'restore precheck failed: ' . json_encode($errors) . "\n");
        exit(1);
    }
}
$rc->execute_plan();
$rc->destroy();
$restoreseconds = microtime(true) - $started;
$file->delete();

$manual = $DB->count_records_sql(
    "SELECT COUNT(ue.id) FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
      WHERE e.courseid = :courseid AND e.enrol = 'manual'", ['courseid' => $course->id]);
echo json_encode(['course' => $course->shortname, 'backup_seconds' => round($backupseconds, 3),
    'restore_seconds' => round($restoreseconds, 3), 'manual_enrolments_after' => $manual,
    'backup_settings' => $backupsettings, 'restore_settings' => $restoresettings]) . "\n";
