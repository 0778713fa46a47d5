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
 * Loads the external API classes under their Moodle 4.2+ names on every supported Moodle.
 *
 * Moodle 4.2 moved the external API from lib/externallib.php (classes \external_api,
 * \external_value, ...) to the autoloaded namespace \core_external. Moodle 4.2 to 5.1 keep the
 * old names only as deprecated aliases, and lib/externallib.php must not be included there
 * (it calls require_phpunit_isolation()). Moodle 4.1 has only the old names. So the plugin is
 * written against \core_external\..., and on 4.1 alone this file includes the old library and
 * aliases its classes to the new names. On 4.2+ it does nothing.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

if (!class_exists(\core_external\external_api::class)) {
    global $CFG;
    require_once($CFG->libdir . '/externallib.php');
    class_alias(\external_api::class, \core_external\external_api::class);
    class_alias(\external_value::class, \core_external\external_value::class);
    class_alias(\external_single_structure::class, \core_external\external_single_structure::class);
    class_alias(\external_multiple_structure::class, \core_external\external_multiple_structure::class);
    class_alias(\external_function_parameters::class, \core_external\external_function_parameters::class);
}
