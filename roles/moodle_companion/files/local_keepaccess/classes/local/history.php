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

use stdClass;

/**
 * The history table: what each write of the service changed, per course and user.
 *
 * Rows are written by the write functions inside their own delegated transaction, so the history
 * holds exactly what was applied: a write that fails or is killed leaves neither the change nor its row.
 *
 * @package    local_keepaccess
 * @copyright  cemu.moodle contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class history {
    /** @var string the table */
    public const TABLE = 'local_keepaccess_history';

    /** @var string[] fields of a record as get_course_history returns them, in order */
    public const FIELDS = ['id', 'courseid', 'userid', 'runid', 'step', 'hadbefore', 'statusbefore', 'timestartbefore',
        'timeendbefore', 'hasafter', 'statusafter', 'timestartafter', 'timeendafter', 'rolesbefore', 'rolesafter',
        'timecreated'];

    /** @var int seconds of the default retention: three years */
    public const DEFAULT_RETENTION = 94608000;

    /**
     * A user's manual enrolment as the history keeps it: [present, status, timestart, timeend].
     *
     * @param stdClass|array|null $ue a user_enrolments record, the values written, or null for none
     * @return array
     */
    public static function enrolment_state($ue): array {
        if ($ue === null) {
            return [0, 0, 0, 0];
        }
        $ue = (array) $ue;
        return [1, (int) $ue['status'], (int) $ue['timestart'], (int) $ue['timeend']];
    }

    /**
     * Records one user's change unless nothing changed.
     *
     * @param int $courseid
     * @param int $userid
     * @param array $run ['runid' => string, 'step' => string]
     * @param array $before enrolment_state() before the write
     * @param array $after enrolment_state() after the write
     * @param int[] $rolesbefore manual role ids held before
     * @param int[] $rolesafter manual role ids held after
     * @return bool whether a row was written
     */
    public static function record(int $courseid, int $userid, array $run, array $before, array $after,
            array $rolesbefore, array $rolesafter): bool {
        global $DB;
        $record = self::build($courseid, $userid, $run, $before, $after, $rolesbefore, $rolesafter);
        if ($record) {
            $DB->insert_record(self::TABLE, $record);
        }
        return (bool) $record;
    }

    /**
     * The history row of one user's change, or null when nothing changed (see record()).
     *
     * @param int $courseid
     * @param int $userid
     * @param array $run ['runid' => string, 'step' => string]
     * @param array $before enrolment_state() before the write
     * @param array $after enrolment_state() after the write
     * @param int[] $rolesbefore manual role ids held before
     * @param int[] $rolesafter manual role ids held after
     * @return stdClass|null
     */
    public static function build(int $courseid, int $userid, array $run, array $before, array $after,
            array $rolesbefore, array $rolesafter): ?stdClass {
        sort($rolesbefore);
        sort($rolesafter);
        if ($before === $after && $rolesbefore === $rolesafter) {
            return null;
        }
        return (object) [
            'courseid' => $courseid, 'userid' => $userid, 'runid' => $run['runid'], 'step' => $run['step'],
            'hadbefore' => $before[0], 'statusbefore' => $before[1], 'timestartbefore' => $before[2],
            'timeendbefore' => $before[3],
            'hasafter' => $after[0], 'statusafter' => $after[1], 'timestartafter' => $after[2], 'timeendafter' => $after[3],
            'rolesbefore' => implode(',', $rolesbefore), 'rolesafter' => implode(',', $rolesafter),
            'timecreated' => time(),
        ];
    }

    /**
     * Inserts rows of build() in their order (one multi-row insert), inside the caller's transaction.
     *
     * @param stdClass[] $records
     */
    public static function insert_all(array $records): void {
        global $DB;
        if ($records) {
            $DB->insert_records(self::TABLE, $records);
        }
    }

    /**
     * One page of a course's history, oldest first.
     *
     * @param int $courseid
     * @param int $fromid only records with a greater id
     * @param int $maxrecords 0 = all
     * @return array records as arrays of FIELDS
     */
    public static function of_course(int $courseid, int $fromid, int $maxrecords): array {
        global $DB;
        $records = $DB->get_records_select(self::TABLE, 'courseid = :courseid AND id > :fromid',
            ['courseid' => $courseid, 'fromid' => $fromid], 'id', implode(', ', self::FIELDS), 0, $maxrecords);
        $rows = [];
        foreach ($records as $record) {
            $row = [];
            foreach (self::FIELDS as $field) {
                $row[$field] = in_array($field, ['runid', 'step', 'rolesbefore', 'rolesafter']) ?
                    (string) $record->$field : (int) $record->$field;
            }
            $rows[] = $row;
        }
        return $rows;
    }

    /**
     * Seconds history records are kept (setting local_keepaccess/historyretention; 0 = for ever).
     *
     * @return int
     */
    public static function retention(): int {
        $setting = get_config('local_keepaccess', 'historyretention');
        return $setting === false ? self::DEFAULT_RETENTION : (int) $setting;
    }

    /**
     * Deletes records older than the retention, and those of deleted courses; returns how many.
     *
     * @param int $now
     * @return int
     */
    public static function purge(int $now): int {
        global $DB;
        $where = 'courseid NOT IN (SELECT id FROM {course})';
        $params = [];
        $retention = self::retention();
        if ($retention > 0) {
            $where .= ' OR timecreated < :cutoff';
            $params['cutoff'] = $now - $retention;
        }
        $count = $DB->count_records_select(self::TABLE, $where, $params);
        $DB->delete_records_select(self::TABLE, $where, $params);
        return $count;
    }
}
