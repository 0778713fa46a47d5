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
 * Creates or reuses the web-service user of the keep_access service and prints its token.
 *
 * Idempotent: a second run changes nothing and prints the same token.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

define('CLI_SCRIPT', true);

// Moodle 5.1+ keeps plugins under public/; public/config.php then loads the root config.php.
require(__DIR__ . '/../../../config.php');
require_once($CFG->libdir . '/clilib.php');
require_once($CFG->dirroot . '/user/lib.php');
require_once(__DIR__ . '/../externalcompat.php');

use local_keepaccess\local\service_account;

[$options, $unrecognised] = cli_get_params([
    'help' => false,
    'username' => service_account::DEFAULT_USERNAME,
    'auth' => 'manual',
    'assignable-roles' => implode(',', service_account::DEFAULT_ASSIGNABLE_ROLES),
    'enable-webservices' => false,
    'print-token-only' => false,
    'json' => false,
], ['h' => 'help']);

if ($unrecognised) {
    cli_error(get_string('cliunknowoption', 'core_admin', implode(PHP_EOL . '  ', $unrecognised)));
}
if ($options['help']) {
    cli_writeln(get_string('cli_help', 'local_keepaccess', service_account::DEFAULT_USERNAME));
    exit(0);
}
if (!in_array($options['auth'], ['manual', 'webservice'], true)) {
    cli_error(get_string('cli_badauth', 'local_keepaccess', $options['auth']));
}

\core\session\manager::set_user(get_admin());

try {
    $account = new service_account(trim($options['username']), $options['auth'],
        array_filter(array_map('trim', explode(',', $options['assignable-roles']))));
    if ($options['enable-webservices']) {
        $account->enable_rest_webservices();
    }
    $token = $account->ensure();
} catch (moodle_exception $e) {
    cli_error($e->getMessage());
}

if ($options['json']) {
    cli_writeln(json_encode(['token' => $token, 'userid' => $account->userid, 'changes' => $account->changes]));
} else if ($options['print-token-only']) {
    cli_writeln($token);
} else {
    foreach ($account->changes as $change) {
        cli_writeln($change);
    }
    foreach ($account->warnings() as $warning) {
        cli_problem($warning);
    }
    cli_writeln(get_string('cli_token', 'local_keepaccess', $token));
}
exit(0);
