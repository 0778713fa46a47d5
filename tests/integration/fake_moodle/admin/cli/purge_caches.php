<?php
// Fake of Moodle's admin/cli/purge_caches.php: only logs the call.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
fake_log_call('purge_caches.php', $argv);
