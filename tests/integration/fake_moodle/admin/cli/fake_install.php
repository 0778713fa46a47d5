<?php
// Records the code on disk as installed, as a fresh site is (no Moodle equivalent; not logged).
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
fake_install();
