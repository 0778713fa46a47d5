<?php
// Fake of Moodle's admin/cli/upgrade.php: installs or upgrades core and every plugin on disk, as Moodle does.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
fake_log_call('upgrade.php', $argv);
if (!in_array('--non-interactive', $argv, true)) {
    fwrite(STDERR, "would wait for input\n");
    exit(1);
}
fake_install();
