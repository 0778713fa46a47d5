<?php
// Fake Moodle bootstrap for the companion role's tests (see ../README.md). Loaded by config.php.

define('MOODLE_INTERNAL', true);
define('MATURITY_STABLE', 200);

$CFG->dirroot = dirname(__DIR__);
$CFG->libdir = $CFG->dirroot . '/lib';
$FAKEDB = is_file($CFG->fakedb) ? json_decode(file_get_contents($CFG->fakedb), true) : [];
$CFG->version = $FAKEDB['version'] ?? null;
$CFG->release = $FAKEDB['release'] ?? null;
$CFG->allversionshash = $FAKEDB['allversionshash'] ?? '';

/** Like Moodle's: a plugin setting from the database, false when unset (only 'version' exists here). */
function get_config($plugin, $name) {
    global $FAKEDB;
    return $name === 'version' && isset($FAKEDB['plugins'][$plugin]) ? $FAKEDB['plugins'][$plugin] : false;
}

/** Write the fake database. */
function fake_save_db() {
    global $CFG, $FAKEDB;
    file_put_contents($CFG->fakedb, json_encode($FAKEDB, JSON_PRETTY_PRINT));
}

/** Record a CLI call in the log next to config.php. */
function fake_log_call($script, array $argv) {
    global $CFG;
    file_put_contents($CFG->fakelog, $script . ' ' . implode(' ', array_slice($argv, 1)) . "\n", FILE_APPEND);
}

function get_admin() {
    return (object)['id' => 2, 'username' => 'admin'];
}

class core_component {
    public static function get_plugin_types() {
        global $CFG;
        return ['local' => $CFG->dirroot . '/local'];
    }

    public static function get_plugin_list($type) {
        $dir = self::get_plugin_types()[$type];
        $result = [];
        foreach (is_dir($dir) ? scandir($dir) : [] as $name) {
            if ($name[0] !== '.' && is_dir("$dir/$name")) {
                $result[$name] = "$dir/$name";
            }
        }
        ksort($result);
        return $result;
    }

    /** As Moodle's: core first, then every plugin on disk, type by type, names sorted. */
    public static function get_all_versions(): array {
        global $CFG;
        $version = null;
        require($CFG->dirroot . '/version.php');
        $versions = ['core' => $version];
        foreach (self::get_plugin_types() as $type => $unused) {
            foreach (self::get_plugin_list($type) as $name => $dir) {
                $plugin = new stdClass();
                $plugin->version = null;
                include($dir . '/version.php');
                $versions[$type . '_' . $name] = $plugin->version;
            }
        }
        return $versions;
    }

    public static function get_all_versions_hash() {
        return sha1(serialize(self::get_all_versions()));
    }
}

class fake_plugininfo {
    public $component;
    public $versiondb;
    public $versiondisk;

    public function __construct($component, $versiondb, $versiondisk) {
        $this->component = $component;
        $this->versiondb = $versiondb;
        $this->versiondisk = $versiondisk;
    }

    /** As Moodle's \core\plugininfo\base::get_status() (no deleted standard plugins here). */
    public function get_status() {
        if ($this->versiondb === null && $this->versiondisk === null) {
            return core_plugin_manager::PLUGIN_STATUS_NODB;
        } else if ($this->versiondb === null) {
            return core_plugin_manager::PLUGIN_STATUS_NEW;
        } else if ($this->versiondisk === null) {
            return core_plugin_manager::PLUGIN_STATUS_MISSING;
        } else if ((float)$this->versiondb === (float)$this->versiondisk) {
            return core_plugin_manager::PLUGIN_STATUS_UPTODATE;
        }
        return $this->versiondb < $this->versiondisk
            ? core_plugin_manager::PLUGIN_STATUS_UPGRADE : core_plugin_manager::PLUGIN_STATUS_DOWNGRADE;
    }
}

class core_plugin_manager {
    const PLUGIN_STATUS_NODB = 'nodb';
    const PLUGIN_STATUS_UPTODATE = 'uptodate';
    const PLUGIN_STATUS_NEW = 'new';
    const PLUGIN_STATUS_UPGRADE = 'upgrade';
    const PLUGIN_STATUS_DELETE = 'delete';
    const PLUGIN_STATUS_DOWNGRADE = 'downgrade';
    const PLUGIN_STATUS_MISSING = 'missing';

    public static function instance() {
        return new self();
    }

    /** Installed and present plugins, as type => name => plugininfo. */
    public function get_plugins() {
        global $FAKEDB;
        $ondisk = core_component::get_all_versions();
        unset($ondisk['core']);
        $components = array_unique(array_merge(array_keys($ondisk), array_keys($FAKEDB['plugins'] ?? [])));
        sort($components);
        $result = [];
        foreach ($components as $component) {
            [$type, $name] = explode('_', $component, 2);
            $result[$type][$name] = new fake_plugininfo($component, $FAKEDB['plugins'][$component] ?? null,
                $ondisk[$component] ?? null);
        }
        return $result;
    }
}

/** What upgrade.php does to the database: every version on disk becomes the installed one, the hash is recorded. */
function fake_install() {
    global $CFG, $FAKEDB;
    $version = null;
    $release = null;
    require($CFG->dirroot . '/version.php');
    $versions = core_component::get_all_versions();
    $FAKEDB['version'] = (string)$version;
    $FAKEDB['release'] = $release;
    foreach ($versions as $component => $pluginversion) {
        if ($component !== 'core') {
            $FAKEDB['plugins'][$component] = (string)$pluginversion;
        }
    }
    $FAKEDB['allversionshash'] = sha1(serialize($versions));
    fake_save_db();
}
