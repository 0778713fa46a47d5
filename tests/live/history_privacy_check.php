<?php
// Copyright: cemu.moodle contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * Checks local_keepaccess's history, course claims, site settings, retention task and privacy provider
 * on a real Moodle, through the plugin's own classes and Moodle's privacy manager. Creates a course and
 * two users of its own and deletes them at the end. Prints one JSON line per check; exit 1 when one fails.
 *
 *   sudo -u www-data php tests/live/history_privacy_check.php --moodle=/var/www/moodle
 */

define('CLI_SCRIPT', true);

require(__DIR__ . '/cli_options.php');

$usage = <<<EOT
Checks local_keepaccess's history, claims, retention task and privacy provider on this Moodle.

Options:
  --moodle=DIR      Moodle directory holding config.php (5.1: the directory above public/)
  -h, --help        this help

EOT;
$keepaccessoptions = keepaccess_cli_options($usage);

require($keepaccessoptions['moodle'] . '/config.php');
require_once($CFG->dirroot . '/course/lib.php');
require_once($CFG->dirroot . '/user/lib.php');
require_once($CFG->libdir . '/xmldb/xmldb_file.php');

use core_privacy\local\request\approved_contextlist;
use core_privacy\local\request\approved_userlist;
use core_privacy\local\request\contextlist_collection;
use core_privacy\local\request\transform;
use core_privacy\local\request\userlist;
use local_keepaccess\external\apply_manual_enrolments;
use local_keepaccess\external\claim_course;
use local_keepaccess\external\get_course_history;
use local_keepaccess\external\get_site_settings;
use local_keepaccess\external\release_course;
use local_keepaccess\external\remove_manual_enrolments;
use local_keepaccess\privacy\provider;

$failures = 0;

/**
 * Prints one check's outcome as a JSON line and counts failures.
 */
function keepaccess_check(string $name, bool $ok, $detail = null): void {
    global $failures;
    if (!$ok) {
        $failures++;
    }
    echo json_encode(['check' => $name, 'ok' => $ok, 'detail' => $detail]) . "\n";
}

/**
 * The error code a call fails with, or '' when it does not fail.
 */
function keepaccess_errorcode(callable $call): string {
    try {
        $call();
    } catch (moodle_exception $e) {
        return $e->errorcode;
    }
    return '';
}

/**
 * History rows of a course, oldest first.
 */
function keepaccess_history_rows(int $courseid): array {
    global $DB;
    return array_values($DB->get_records('local_keepaccess_history', ['courseid' => $courseid], 'id'));
}

\core\session\manager::set_user(get_admin());
$suffix = time() . '_' . random_int(1000, 9999);
$course = create_course((object) ['fullname' => 'Keep access history check ' . $suffix,
    'shortname' => 'KAHIST_' . $suffix, 'category' => $DB->get_field_sql('SELECT MIN(id) FROM {course_categories}')]);
$context = context_course::instance($course->id);
if (!$DB->record_exists('enrol', ['courseid' => $course->id, 'enrol' => 'manual'])) {
    enrol_get_plugin('manual')->add_default_instance($course);
}
$users = [];
foreach (['a', 'b'] as $letter) {
    $id = user_create_user((object) ['username' => 'kahist_' . $letter . '_' . $suffix, 'firstname' => 'History',
        'lastname' => strtoupper($letter), 'email' => "kahist_{$letter}_{$suffix}@example.invalid", 'auth' => 'manual',
        'password' => 'Not-used-' . random_int(100000, 999999), 'confirmed' => 1, 'mnethostid' => $CFG->mnet_localhost_id]);
    $users[$letter] = core_user::get_user($id);
}
$student = (int) $DB->get_field('role', 'id', ['shortname' => 'student']);
$end = time() + 365 * DAYSECS;

try {
    // Site settings.
    $settings = get_site_settings::execute();
    keepaccess_check('site settings: plugin version and time zone', $settings['pluginversion'] == get_config('local_keepaccess', 'version')
        && $settings['timezone'] === core_date::get_server_timezone(), $settings);

    // Claims.
    $claim = claim_course::execute($course->id, 'live-run-a', 600);
    keepaccess_check('claim: run a holds the course', $claim['runid'] === 'live-run-a' && $claim['renewed'] == 0, $claim);
    $code = keepaccess_errorcode(fn() => claim_course::execute($course->id, 'live-run-b', 600));
    keepaccess_check('claim: run b is refused while run a holds the course', $code === 'courseclaimed', $code);
    $row = [['userid' => $users['a']->id, 'timeend' => $end, 'roleids' => [$student]]];
    foreach (['live-run-b', ''] as $runid) {
        $code = keepaccess_errorcode(fn() => apply_manual_enrolments::execute($course->id, $row, 0, $runid, 'restore'));
        keepaccess_check("claim: a write of run '{$runid}' is refused", $code === 'courseclaimed', $code);
    }
    keepaccess_check('claim: refused writes wrote nothing', !keepaccess_history_rows($course->id)
        && !$DB->record_exists('user_enrolments', ['userid' => $users['a']->id]));

    // History written by the writes.
    $result = apply_manual_enrolments::execute($course->id, array_merge($row, [['userid' => $users['b']->id]]), 0,
        'live-run-a', 'restore');
    $again = apply_manual_enrolments::execute($course->id, $row, 0, 'live-run-a', 'restore');
    $history = keepaccess_history_rows($course->id);
    keepaccess_check('history: one row per changed user, none for an unchanged write', count($history) == 2
        && $result[0]['result'] === 'created' && $again[0]['result'] === 'unchanged', $history);
    $first = $history[0];
    keepaccess_check('history: before and after of a created enrolment', $first->runid === 'live-run-a'
        && $first->step === 'restore' && $first->hadbefore == 0 && $first->hasafter == 1 && $first->timeendafter == $end
        && $first->rolesbefore === '' && $first->rolesafter === (string) $student, $first);
    $answer = get_course_history::execute($course->id, 0, 1);
    keepaccess_check('history: read back page by page', count($answer['records']) == 1
        && $answer['nextfromid'] == $first->id && $answer['records'][0]['userid'] == $users['a']->id, $answer);
    remove_manual_enrolments::execute($course->id, [['userid' => $users['b']->id, 'unenrol' => 1]], 'live-run-a', 'revert');
    $last = array_values(array_slice(keepaccess_history_rows($course->id), -1))[0];
    keepaccess_check('history: a removal records the enrolment it took away', $last->step === 'revert'
        && $last->hadbefore == 1 && $last->hasafter == 0, $last);
    $code = keepaccess_errorcode(fn() => apply_manual_enrolments::execute($course->id,
        [['userid' => $users['b']->id, 'timestart' => $end, 'timeend' => $end - 10]], 0, 'live-run-a', 'restore'));
    keepaccess_check('history: a refused write adds no row', $code === 'invalidtimes'
        && count(keepaccess_history_rows($course->id)) == 3, $code);
    $released = release_course::execute($course->id, 'live-run-a');
    $claimb = claim_course::execute($course->id, 'live-run-b', 600);
    keepaccess_check('claim: released, then run b may claim', $released['released'] == 1 && $claimb['runid'] === 'live-run-b');
    release_course::execute($course->id, 'live-run-b');

    // Privacy.
    $manager = new \core_privacy\manager();
    keepaccess_check('privacy: the component is compliant', $manager->component_is_compliant('local_keepaccess'));
    $metadata = $manager->get_metadata_for_components()['local_keepaccess'] ?? null;
    $tables = [];
    foreach ($metadata ? $metadata->get_collection() : [] as $item) {
        $tables[$item->get_name()] = array_keys($item->get_privacy_fields());
    }
    keepaccess_check('privacy: metadata declares the history table and its user fields',
        isset($tables['local_keepaccess_history']) && in_array('userid', $tables['local_keepaccess_history']), $tables);
    // What Moodle's own privacy tests (privacy/tests/privacy/provider_test.php) check for every component.
    $problems = [];
    foreach ($metadata ? $metadata->get_collection() : [] as $item) {
        if ($item instanceof \core_privacy\local\metadata\types\database_table && !$DB->get_manager()->table_exists($item->get_name())) {
            $problems[] = 'no table ' . $item->get_name();
        }
        $identifiers = array_merge([$item->get_summary()], array_values($item->get_privacy_fields()));
        foreach ($identifiers as $identifier) {
            if (!get_string_manager()->string_exists($identifier, 'local_keepaccess')) {
                $problems[] = 'no string ' . $identifier;
            }
        }
    }
    keepaccess_check('privacy: metadata names existing tables and strings (test_metadata_provider)',
        $metadata && !$problems, $problems);
    $xmldb = new xmldb_file($CFG->dirroot . '/local/keepaccess/db/install.xml');
    $xmldb->loadXMLStructure();
    $uncovered = [];
    foreach ($xmldb->getStructure()->getTables() as $table) {
        $userfields = array_filter($table->getFields(), fn($f) => $f->getName() === 'userid');
        foreach ($table->getKeys() as $key) {
            $userfields = $userfields ?: ($key->getRefTable() === 'user' ? [$key] : []);
        }
        if ($userfields && !isset($tables[$table->getName()])) {
            $uncovered[] = $table->getName();
        }
    }
    keepaccess_check('privacy: every table with a user field is declared (test_table_coverage)', !$uncovered, $uncovered);
    keepaccess_check('privacy: a user data provider that also lists users (test_userdata_provider_implements_userlist)',
        is_subclass_of(provider::class, \core_privacy\local\request\core_userlist_provider::class));
    $gone = user_create_user((object) ['username' => 'kahist_gone_' . $suffix, 'firstname' => 'Gone', 'lastname' => 'User',
        'email' => "kahist_gone_{$suffix}@example.invalid", 'auth' => 'manual', 'confirmed' => 1,
        'mnethostid' => $CFG->mnet_localhost_id]);
    delete_user(core_user::get_user($gone));
    context_user::instance($gone, IGNORE_MISSING) && context_user::instance($gone)->delete();
    $list = \core_privacy\manager::component_class_callback('local_keepaccess',
        \core_privacy\local\request\core_user_data_provider::class, 'get_contexts_for_userid', [$gone]);
    keepaccess_check('privacy: a deleted user is understood (test_component_understands_deleted_users)',
        $list instanceof \core_privacy\local\request\contextlist && !$list->get_contextids());
    $registry = (new \tool_dataprivacy\metadata_registry())->get_registry_metadata();
    $entry = null;
    foreach ($registry as $branch) {
        foreach ($branch['plugins'] as $plugin) {
            if ($plugin['raw_component'] === 'local_keepaccess') {
                $entry = $plugin;
            }
        }
    }
    keepaccess_check("privacy: the data registry (tool_dataprivacy's plugin privacy registry) lists it compliant",
        $entry && $entry['compliant'] && empty($entry['deprecated']) && empty($entry['userlistnoncompliance'])
        && !empty($entry['metadata']), $entry ? array_diff_key($entry, ['metadata' => 1]) : null);

    $contexts = provider::get_contexts_for_userid($users['a']->id)->get_contextids();
    keepaccess_check('privacy: contexts of a user', array_values($contexts) == [$context->id], $contexts);
    $userlist = new userlist($context, 'local_keepaccess');
    provider::get_users_in_context($userlist);
    $ids = $userlist->get_userids();
    sort($ids);
    $expected = [(int) $users['a']->id, (int) $users['b']->id];
    sort($expected);
    keepaccess_check('privacy: users in a course context', array_map('intval', $ids) == $expected, $ids);

    $collection = new contextlist_collection($users['a']->id);
    $collection->add_contextlist(new approved_contextlist($users['a'], 'local_keepaccess', [$context->id]));
    ob_start();         // the manager prints its progress
    $zippath = $manager->export_user_data($collection);
    ob_end_clean();
    $exported = '';
    $exportednames = [];
    $zip = new ZipArchive();
    if ($zip->open($zippath) === true) {
        for ($i = 0; $i < $zip->numFiles; $i++) {
            $name = $zip->getNameIndex($i);
            $exportednames[] = $name;
            if (strpos($name, get_string('privacy:path:history', 'local_keepaccess') . '/data.json') !== false) {
                $exported .= $zip->getFromIndex($i);
            }
        }
        $zip->close();
    }
    $data = json_decode($exported);
    $changes = $data->changes ?? [];
    keepaccess_check('privacy: export of a user holds their history', strpos($exported, 'live-run-a') !== false
        && count($changes) == 1 && $changes[0]->step === 'restore' && $changes[0]->manualenrolmentbefore === get_string('no')
        && $changes[0]->manualenrolmentafter === get_string('yes') && $changes[0]->timeendafter === transform::datetime($end)
        && $changes[0]->rolesafter === (string) $student, [count($changes), $changes[0]->timeendafter ?? null, transform::datetime($end), $changes[0]->rolesafter ?? null,
        preg_grep('/Keep access/', $exportednames)]);
    keepaccess_check("privacy: export of a user holds nobody else's history", strpos($exported, 'revert') === false,
        substr($exported, 0, 600));

    // Deletes through Moodle's privacy manager, as the data privacy tool runs them.
    $others = $DB->count_records_select('local_keepaccess_history', 'courseid <> ?', [$course->id]);
    $collection = new contextlist_collection($users['a']->id);
    $collection->add_contextlist(new approved_contextlist($users['a'], 'local_keepaccess', [$context->id]));
    $manager->delete_data_for_user($collection);
    $left = array_unique(array_map(fn($r) => (int) $r->userid, keepaccess_history_rows($course->id)));
    keepaccess_check('privacy: delete for a user removes only theirs', array_values($left) == [(int) $users['b']->id], $left);
    apply_manual_enrolments::execute($course->id, [['userid' => $users['a']->id, 'timeend' => $end + 60]]);
    $userlists = new \core_privacy\local\request\userlist_collection($context);
    $userlists->add_userlist(new approved_userlist($context, 'local_keepaccess', [$users['b']->id]));
    $manager->delete_data_for_users_in_context($userlists);
    $left = array_unique(array_map(fn($r) => (int) $r->userid, keepaccess_history_rows($course->id)));
    keepaccess_check('privacy: delete for a list of users', array_values($left) == [(int) $users['a']->id], $left);
    $manager->delete_data_for_all_users_in_context($context);
    keepaccess_check('privacy: delete for a context removes every row', !keepaccess_history_rows($course->id)
        && $DB->count_records_select('local_keepaccess_history', 'courseid <> ?', [$course->id]) == $others);

    // Retention task.
    apply_manual_enrolments::execute($course->id, [['userid' => $users['a']->id, 'timeend' => $end + 120]]);
    apply_manual_enrolments::execute($course->id, [['userid' => $users['b']->id, 'timeend' => $end + 120]]);
    $rows = keepaccess_history_rows($course->id);
    $DB->set_field('local_keepaccess_history', 'timecreated', time() - 10 * DAYSECS, ['id' => $rows[0]->id]);
    $previous = get_config('local_keepaccess', 'historyretention');
    set_config('historyretention', 5 * DAYSECS, 'local_keepaccess');
    ob_start();
    (new \local_keepaccess\task\purge_history())->execute();
    ob_end_clean();
    $previous === false ? unset_config('historyretention', 'local_keepaccess')
        : set_config('historyretention', $previous, 'local_keepaccess');
    $ids = array_map(fn($r) => (int) $r->id, keepaccess_history_rows($course->id));
    keepaccess_check('retention: the task removes records older than the setting', $ids == [(int) $rows[1]->id], $ids);
} catch (Throwable $e) {
    keepaccess_check('no unexpected error', false, get_class($e) . ': ' . $e->getMessage() . ' ' . ($e->debuginfo ?? ''));
} finally {
    delete_course($course, false);
    foreach ($users as $user) {
        delete_user($user);
    }
    $DB->delete_records('local_keepaccess_history', ['courseid' => $course->id]);
}
exit($failures ? 1 : 0);
