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

use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_single_structure;
use core_external\external_value;
use local_keepaccess\local\course_target;
use moodle_exception;

/**
 * local_keepaccess_ensure_manual_instance: a course gets an (enabled) manual enrolment instance.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class ensure_manual_instance extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'enable' => new external_value(PARAM_INT, '1 = enable the first manual instance when all are disabled',
                VALUE_DEFAULT, 1),
        ]);
    }

    /**
     * Creates the manual instance when missing; enables it when asked and all are disabled.
     *
     * @param int $courseid
     * @param int $enable
     * @return array
     */
    public static function execute(int $courseid, int $enable = 1): array {
        global $DB;
        $params = self::validate_parameters(self::execute_parameters(), ['courseid' => $courseid, 'enable' => $enable]);
        $target = course_target::load($params['courseid']);
        self::validate_context($target->context);
        require_capability('moodle/course:enrolconfig', $target->context);
        require_capability('enrol/manual:config', $target->context);
        if (!enrol_is_enabled('manual')) {
            throw new moodle_exception('manualplugindisabled', 'local_keepaccess', '', $target->course->id);
        }

        $transaction = $DB->start_delegated_transaction();
        $instances = $target->manual_instances();
        $result = ['instanceid' => 0, 'created' => 0, 'enabled' => 0];
        if (!$instances) {
            $result['instanceid'] = self::create_instance($target, !empty($params['enable']));
            $result['created'] = 1;
        } else {
            $result['instanceid'] = (int) self::first_enabled_or_first($instances)->id;
            if (!empty($params['enable']) && !self::any_enabled($instances)) {
                enrol_get_plugin('manual')->update_status($instances[0], ENROL_INSTANCE_ENABLED);
                $result['instanceid'] = (int) $instances[0]->id;
                $result['enabled'] = 1;
            }
        }
        $transaction->allow_commit();
        return $result;
    }

    /**
     * Adds a manual instance with the plugin's site defaults, except the welcome message, which is off.
     *
     * @param course_target $target
     * @param bool $enable false = the site's default status for new instances
     * @return int the new instance id
     */
    private static function create_instance(course_target $target, bool $enable): int {
        $plugin = enrol_get_plugin('manual');
        $expirynotify = (int) $plugin->get_config('expirynotify', 0);
        $fields = [
            'status' => $enable ? ENROL_INSTANCE_ENABLED : (int) $plugin->get_config('status', ENROL_INSTANCE_ENABLED),
            'roleid' => (int) $plugin->get_config('roleid', 0),
            'enrolperiod' => (int) $plugin->get_config('enrolperiod', 0),
            'expirynotify' => $expirynotify,
            'notifyall' => $expirynotify == 2 ? 1 : 0,
            'expirythreshold' => (int) $plugin->get_config('expirythreshold', 86400),
            'customint1' => 0,
        ];
        $instanceid = $plugin->add_instance($target->course, $fields);
        if (!$instanceid) {
            throw new moodle_exception('nomanualinstance', 'local_keepaccess', '', $target->course->id);
        }
        return (int) $instanceid;
    }

    /**
     * The first enabled instance, else the first one.
     *
     * @param \stdClass[] $instances ordered manual instances
     * @return \stdClass
     */
    private static function first_enabled_or_first(array $instances): \stdClass {
        foreach ($instances as $instance) {
            if ((int) $instance->status === ENROL_INSTANCE_ENABLED) {
                return $instance;
            }
        }
        return $instances[0];
    }

    /**
     * Whether any of the instances is enabled.
     *
     * @param \stdClass[] $instances
     * @return bool
     */
    private static function any_enabled(array $instances): bool {
        return (int) self::first_enabled_or_first($instances)->status === ENROL_INSTANCE_ENABLED;
    }

    /**
     * Return structure.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'instanceid' => new external_value(PARAM_INT, 'The manual instance id'),
            'created' => new external_value(PARAM_INT, '1 when the instance was created'),
            'enabled' => new external_value(PARAM_INT, '1 when a disabled instance was enabled'),
        ]);
    }
}
