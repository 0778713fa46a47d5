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


namespace local_keepaccess\task;

use local_keepaccess\local\course_guard;
use local_keepaccess\local\history;

/**
 * Removes history records older than the retention setting and course claims that have ended.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class purge_history extends \core\task\scheduled_task {
    /**
     * Name shown in the scheduled tasks list.
     *
     * @return string
     */
    public function get_name(): string {
        return get_string('taskpurgehistory', 'local_keepaccess');
    }

    /**
     * Deletes what is due.
     */
    public function execute(): void {
        $now = time();
        $records = history::purge($now);
        $leases = course_guard::purge_expired($now);
        mtrace("local_keepaccess: removed {$records} history records and {$leases} ended course claims.");
    }
}
