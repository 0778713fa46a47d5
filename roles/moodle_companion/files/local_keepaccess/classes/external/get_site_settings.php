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


namespace local_keepaccess\external;

defined('MOODLE_INTERNAL') || die();

require_once(__DIR__ . '/../../externalcompat.php');

use context_system;
use core_date;
use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_single_structure;
use core_external\external_value;
use local_keepaccess\local\history;

/**
 * local_keepaccess_get_site_settings: what a run checks once per site before it touches a course.
 *
 * The installed plugin version (is the companion compatible), the server time zone (dates given as
 * YYYY-MM-DD mean that zone's end of day), the server's clock (is an end date past) and the history
 * retention (how far back Moodle remembers earlier runs).
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class get_site_settings extends external_api {
    /**
     * Parameters: none.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([]);
    }

    /**
     * The site's settings.
     *
     * @return array
     */
    public static function execute(): array {
        self::validate_parameters(self::execute_parameters(), []);
        $context = context_system::instance();
        self::validate_context($context);
        require_capability('moodle/course:enrolreview', $context);
        return [
            'pluginversion' => (int) get_config('local_keepaccess', 'version'),
            'timezone' => core_date::get_server_timezone(),
            'servertime' => time(),
            'historyretention' => history::retention(),
        ];
    }

    /**
     * Return structure.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'pluginversion' => new external_value(PARAM_INT, 'Installed version of local_keepaccess'),
            'timezone' => new external_value(PARAM_RAW, 'Server timezone'),
            'servertime' => new external_value(PARAM_INT, "The server's clock (Unix time)"),
            'historyretention' => new external_value(PARAM_INT, 'Seconds history records are kept, 0 = for ever'),
        ]);
    }
}
