<?php
// Fake of Moodle's admin/cli/cfg.php: reads a plugin's version; exit 3 when it is not installed.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
fake_log_call('cfg.php', $argv);
if (array_slice($argv, 1) !== ['--component=local_keepaccess', '--name=version']) {
    fwrite(STDERR, "unexpected arguments\n");
    exit(2);
}
$installed = get_config('local_keepaccess', 'version');
if ($installed === false) {
    exit(3);  // Like Moodle: the setting does not exist.
}
echo $installed, "\n";
