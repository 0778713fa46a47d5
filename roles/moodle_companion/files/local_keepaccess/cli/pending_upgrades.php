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
 * Says whether admin/cli/upgrade.php would change anything besides local_keepaccess, and lists what.
 *
 * upgrade.php applies every pending upgrade at once, Moodle core's included. The
 * cemu.moodle.moodle_companion role runs this script before it copies the plugin and
 * upgrades only when nothing else would change. It decides the way Moodle does
 * (moodle_needs_upgrading()): the versions of the code on disk against the hash
 * recorded by the last upgrade, with local_keepaccess's entry put back as installed.
 * It lists core's and each plugin's status (core_plugin_manager).
 *
 * It writes nothing; like upgrade.php --is-pending it may refresh Moodle's
 * component cache file when that is stale.
 *
 * Exit status: 0 nothing but local_keepaccess is pending, 2 something else is.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

define('CLI_SCRIPT', true);
// As in admin/cli/upgrade.php: see the code on disk, not what the caches remember.
define('CACHE_DISABLE_ALL', true);

// Normally run as local/keepaccess/cli/pending_upgrades.php. The role pipes this file to php (then
// __FILE__ is no file) from the directory holding Moodle's admin/ (5.1+: public/), before the plugin is there.
if (is_file(__FILE__)) {
    require(__DIR__ . '/../../../config.php');
} else {
    // PHP defines these only for a script read from a file; Moodle's CLI functions write to them.
    define('STDIN', fopen('php://stdin', 'r'));
    define('STDOUT', fopen('php://stdout', 'w'));
    define('STDERR', fopen('php://stderr', 'w'));
    require(getcwd() . '/config.php');
}
require_once($CFG->libdir . '/clilib.php');

[$options, $unrecognised] = cli_get_params(['help' => false, 'json' => false], ['h' => 'help']);
if ($unrecognised) {
    cli_error('Unknown option(s): ' . implode(' ', $unrecognised));
}
if ($options['help']) {
    cli_writeln("Says whether admin/cli/upgrade.php would upgrade anything besides local_keepaccess.

Options:
--json      One line of JSON: others_pending (bool), pending (what is not up to date, local_keepaccess
            excluded: component, status, installed, ondisk, text), keepaccess (installed, ondisk).
-h, --help  This help.

Exit status: 0 when nothing but local_keepaccess is pending, 2 when something else is.");
    exit(0);
}

/** The component this plugin is; its own upgrade is the one the role means to run. */
const LOCAL_KEEPACCESS_COMPONENT = 'local_keepaccess';

/**
 * Moodle's list of versions on disk with local_keepaccess as installed (absent when not installed).
 *
 * Moodle hashes core_component::get_all_versions() into $CFG->allversionshash at the end of
 * every upgrade; this list hashes the same as long as nothing but local_keepaccess changed since.
 *
 * @param array $versions core_component::get_all_versions()
 * @param string|false $installed the installed version of local_keepaccess, false when not installed
 * @return array component => version, in Moodle's order
 */
function local_keepaccess_versions_without_own_change(array $versions, $installed): array {
    $own = LOCAL_KEEPACCESS_COMPONENT;
    if ($installed === false) {
        unset($versions[$own]);
        return $versions;
    }
    if (array_key_exists($own, $versions) && (float)$versions[$own] === (float)$installed) {
        return $versions;  // The code on disk is the installed version, as recorded.
    }
    $recorded = ctype_digit((string)$installed) ? (int)$installed : (float)$installed;
    if (array_key_exists($own, $versions)) {
        $versions[$own] = $recorded;
        return $versions;
    }
    return local_keepaccess_insert_in_moodle_order($versions, $own, $recorded);
}

/**
 * Insert a plugin's version where core_component::get_all_versions() lists it: plugin types in
 * core_component::get_plugin_types() order, names of a type sorted (core_component::fetch_plugins()).
 *
 * @param array $versions component => version
 * @param string $component frankenstyle name of the plugin to insert
 * @param int|float $version its version
 * @return array
 */
function local_keepaccess_insert_in_moodle_order(array $versions, string $component, $version): array {
    $typeorder = array_flip(array_keys(core_component::get_plugin_types()));
    [$type, $name] = explode('_', $component, 2);
    $result = [];
    foreach ($versions as $key => $value) {
        if (!array_key_exists($component, $result) && $key !== 'core') {
            [$keytype, $keyname] = explode('_', $key, 2);
            $later = $typeorder[$keytype] ?? PHP_INT_MAX;
            if ($later > $typeorder[$type] || ($keytype === $type && strcmp($keyname, $name) > 0)) {
                $result[$component] = $version;
            }
        }
        $result[$key] = $value;
    }
    $result[$component] = $result[$component] ?? $version;
    return $result;
}

/**
 * Core's upgrade, if version.php on disk differs from the installed version.
 *
 * @return array[] zero or one pending entry
 */
function local_keepaccess_pending_core(): array {
    global $CFG;
    $version = null;
    $release = null;
    require($CFG->dirroot . '/version.php');
    if (!empty($CFG->version) && (float)$version === (float)$CFG->version) {
        return [];
    }
    $status = empty($CFG->version) || $version > $CFG->version ? 'upgrade' : 'downgrade';
    return [[
        'component' => 'core',
        'status' => $status,
        'installed' => empty($CFG->version) ? null : (string)$CFG->version,
        'ondisk' => (string)$version,
        'text' => sprintf('core: %s from %s (%s) to %s (%s)', $status, $CFG->version ?? '-', $CFG->release ?? '-',
            $version, $release),
    ]];
}

/**
 * Every plugin but local_keepaccess whose status is not up to date (new, upgrade, downgrade, missing from disk, delete).
 *
 * @return array[] pending entries
 */
function local_keepaccess_pending_plugins(): array {
    $pending = [];
    $quiet = [core_plugin_manager::PLUGIN_STATUS_UPTODATE, core_plugin_manager::PLUGIN_STATUS_NODB];
    foreach (core_plugin_manager::instance()->get_plugins() as $plugins) {
        foreach ($plugins as $plugin) {
            $status = $plugin->get_status();
            if (in_array($status, $quiet, true) || $plugin->component === LOCAL_KEEPACCESS_COMPONENT) {
                continue;
            }
            $pending[] = [
                'component' => $plugin->component,
                'status' => $status,
                'installed' => $plugin->versiondb === null ? null : (string)$plugin->versiondb,
                'ondisk' => $plugin->versiondisk === null ? null : (string)$plugin->versiondisk,
                'text' => sprintf('%s: %s (installed %s, on disk %s)', $plugin->component,
                    $status === core_plugin_manager::PLUGIN_STATUS_MISSING ? 'missing from disk' : $status,
                    $plugin->versiondb ?? '-', $plugin->versiondisk ?? '-'),
            ];
        }
    }
    return $pending;
}

$installed = get_config(LOCAL_KEEPACCESS_COMPONENT, 'version');
$versions = core_component::get_all_versions();
$hashmatches = !empty($CFG->allversionshash)
    && sha1(serialize(local_keepaccess_versions_without_own_change($versions, $installed))) === $CFG->allversionshash;

$pending = array_merge(local_keepaccess_pending_core(), local_keepaccess_pending_plugins());
if (!$hashmatches && (!$pending || empty($CFG->allversionshash))) {
    $pending[] = ['component' => 'site', 'status' => 'upgrade', 'installed' => null, 'ondisk' => null,
        'text' => empty($CFG->allversionshash)
            ? 'site: no versions recorded since the last upgrade or plugin uninstall ($CFG->allversionshash is empty)'
            : 'site: the versions recorded by the last upgrade ($CFG->allversionshash) differ from the code on disk'];
}

$otherspending = !$hashmatches;
$report = [
    'others_pending' => $otherspending,
    'pending' => $pending,
    'keepaccess' => [
        'installed' => $installed === false ? null : (string)$installed,
        'ondisk' => isset($versions[LOCAL_KEEPACCESS_COMPONENT]) ? (string)$versions[LOCAL_KEEPACCESS_COMPONENT] : null,
    ],
];

if ($options['json']) {
    cli_writeln(json_encode($report));
} else {
    if ($otherspending) {
        cli_writeln('admin/cli/upgrade.php would upgrade more than ' . LOCAL_KEEPACCESS_COMPONENT . ':');
    } else {
        cli_writeln('Nothing but ' . LOCAL_KEEPACCESS_COMPONENT . ' is pending' . ($pending ? '; upgrade.php leaves these as they are:' : '.'));
    }
    foreach ($pending as $entry) {
        cli_writeln('  ' . $entry['text']);
    }
}
exit($otherspending ? 2 : 0);
