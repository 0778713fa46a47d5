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


namespace local_keepaccess\local;

use core\lock\lock;
use core\lock\lock_config;
use moodle_exception;
use stdClass;

/**
 * Keeps two runs from interleaving their writes in one course.
 *
 * Moodle releases its locks (lock API) at the end of each request, and a run reads, plans and writes
 * a course over several requests. So a run claims the course: a lease row (run id, expiry) taken
 * under the course's Moodle lock and renewed by claiming again. Every write takes the same Moodle
 * lock for the length of its transaction and checks the lease under it: a write of another run than
 * the one holding an unexpired lease is refused, and a write that names a run id needs that run's
 * lease. A second run therefore waits for the claim or stops with a message naming the holder,
 * and nothing is applied twice: the second run reads the course only once it holds the claim.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class course_guard {
    /** @var string the lease table */
    public const TABLE = 'local_keepaccess_lease';

    /** @var int seconds a request waits for the course's Moodle lock */
    public const LOCK_TIMEOUT = 10;

    /** @var int longest lease a claim may ask for, in seconds */
    public const MAX_SECONDS = 86400;

    /** @var int longest run id */
    public const MAX_RUNID = 64;

    /**
     * Takes the course's Moodle lock (released by the caller, or at the end of the request).
     *
     * @param course_target $target
     * @return lock
     * @throws moodle_exception coursebusy
     */
    public static function lock(course_target $target): lock {
        $factory = lock_config::get_lock_factory('local_keepaccess');
        $lock = $factory->get_lock('course_' . $target->course->id, self::LOCK_TIMEOUT);
        if (!$lock) {
            throw new moodle_exception('coursebusy', 'local_keepaccess', '', $target->course->id);
        }
        return $lock;
    }

    /**
     * Fails unless a run id fits the table (empty is allowed where no run is named).
     *
     * @param string $runid
     * @param course_target $target
     * @throws moodle_exception invalidrunid
     */
    public static function require_valid_runid(string $runid, course_target $target): void {
        if (\core_text::strlen($runid) > self::MAX_RUNID) {
            throw new moodle_exception('invalidrunid', 'local_keepaccess', '',
                (object) ['courseid' => (int) $target->course->id, 'max' => self::MAX_RUNID]);
        }
    }

    /**
     * The course's unexpired lease, if any.
     *
     * @param int $courseid
     * @param int $now
     * @return stdClass|null
     */
    public static function active_lease(int $courseid, int $now): ?stdClass {
        global $DB;
        $lease = $DB->get_record(self::TABLE, ['courseid' => $courseid]);
        return ($lease && $lease->timeexpires > $now) ? $lease : null;
    }

    /**
     * Claims the course for a run, or renews its claim, under the course's Moodle lock.
     *
     * @param course_target $target
     * @param string $runid
     * @param int $seconds how long the claim lasts from now
     * @return array courseid, runid, timeexpires, renewed
     * @throws moodle_exception courseclaimed, coursebusy, invalidclaim
     */
    public static function claim(course_target $target, string $runid, int $seconds): array {
        global $DB;
        if ($runid === '' || $seconds < 1 || $seconds > self::MAX_SECONDS) {
            throw new moodle_exception('invalidclaim', 'local_keepaccess', '',
                (object) ['courseid' => (int) $target->course->id, 'max' => self::MAX_SECONDS]);
        }
        $courseid = (int) $target->course->id;
        $lock = self::lock($target);
        try {
            $now = time();
            self::require_not_held_by_other($target, $runid, $now);
            $lease = $DB->get_record(self::TABLE, ['courseid' => $courseid]);
            $renewed = $lease && $lease->runid === $runid && $lease->timeexpires > $now;
            $values = ['courseid' => $courseid, 'runid' => $runid, 'timeexpires' => $now + $seconds, 'timecreated' => $now];
            if ($lease) {
                $DB->update_record(self::TABLE, (object) (['id' => $lease->id] + $values));
            } else {
                $DB->insert_record(self::TABLE, (object) $values);
            }
        } finally {
            $lock->release();
        }
        return ['courseid' => $courseid, 'runid' => $runid, 'timeexpires' => $values['timeexpires'], 'renewed' => $renewed ? 1 : 0];
    }

    /**
     * Ends a run's claim on the course; another run's claim is left alone.
     *
     * @param course_target $target
     * @param string $runid
     * @return bool whether the run held the course
     */
    public static function release(course_target $target, string $runid): bool {
        global $DB;
        $lock = self::lock($target);
        try {
            $lease = $DB->get_record(self::TABLE, ['courseid' => $target->course->id]);
            if (!$lease || $lease->runid !== $runid) {
                return false;
            }
            $DB->delete_records(self::TABLE, ['id' => $lease->id]);
            return true;
        } finally {
            $lock->release();
        }
    }

    /**
     * Under the course's lock: fails unless this write may change the course now.
     *
     * @param course_target $target
     * @param string $runid the writing run ('' = none named)
     * @throws moodle_exception courseclaimed, claimrequired
     */
    public static function require_writable(course_target $target, string $runid): void {
        $now = time();
        self::require_not_held_by_other($target, $runid, $now);
        if ($runid !== '' && !self::active_lease((int) $target->course->id, $now)) {
            throw new moodle_exception('claimrequired', 'local_keepaccess', '',
                (object) ['courseid' => (int) $target->course->id, 'runid' => $runid]);
        }
    }

    /**
     * Fails when another run holds an unexpired claim on the course.
     *
     * @param course_target $target
     * @param string $runid
     * @param int $now
     * @throws moodle_exception courseclaimed
     */
    private static function require_not_held_by_other(course_target $target, string $runid, int $now): void {
        $lease = self::active_lease((int) $target->course->id, $now);
        if ($lease && $lease->runid !== $runid) {
            throw new moodle_exception('courseclaimed', 'local_keepaccess', '', (object) [
                'courseid' => (int) $target->course->id, 'runid' => $lease->runid,
                'until' => gmdate('Y-m-d H:i:s', $lease->timeexpires) . ' UTC',
            ]);
        }
    }

    /**
     * Deletes leases that ended before $now; returns how many.
     *
     * @param int $now
     * @return int
     */
    public static function purge_expired(int $now): int {
        global $DB;
        $count = $DB->count_records_select(self::TABLE, 'timeexpires <= :now', ['now' => $now]);
        $DB->delete_records_select(self::TABLE, 'timeexpires <= :now', ['now' => $now]);
        return $count;
    }
}
