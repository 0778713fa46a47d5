# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup files on disk: private, atomic, never overwritten, checked when read; restore records."""

import datetime
import json
import os
import stat

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils import backup_store
from ansible_collections.cemu.moodle.plugins.module_utils.backup_store import (
    BackupError, BackupStore, merge_record, record_would_change, site_key)
from ansible_collections.cemu.moodle.plugins.module_utils.plan import CourseState, backup_from_state
from tests.unit.test_plan_fixtures import COURSE, DATABASE, SITE, STUDENT, answer, ra, ue

URL = 'https://Moodle.example.edu/'


def moment(second):
    return datetime.datetime(2026, 8, 20, 10, 0, second, 123456, tzinfo=datetime.timezone.utc)


def document():
    state = CourseState.from_api(answer([ue(1, DATABASE)], [ra(1, STUDENT, DATABASE)]))
    return backup_from_state(state, ['database'], SITE, '2026-08-20T10:00:00Z')


@pytest.fixture
def store(tmp_path):
    return BackupStore(str(tmp_path / 'backups'), URL, COURSE)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('url,key', [
    ('https://Moodle.example.edu/', 'moodle.example.edu'),
    ('http://127.0.0.1:8765', '127.0.0.1_8765'),
    ('https://lms.example.edu:8443/Moodle/4.5/', 'lms.example.edu_8443_moodle_4.5'),
    ('https://lms.example.edu/moodle~x', 'lms.example.edu_moodle_x'),
])
def test_site_key(url, key):
    assert site_key(url) == key


def test_backup_written_private_in_a_directory_per_course(store, tmp_path):
    path = store.write_backup(document(), moment(0))
    assert path == str(tmp_path / 'backups' / 'moodle.example.edu' / 'course-2'
                       / 'enrolments-20260820T100000.123456Z.json')
    assert mode(path) == 0o600
    for directory in (store.course_dir, os.path.dirname(store.course_dir), store.root):
        assert mode(directory) == 0o700
    assert json.load(open(path)) == document()
    assert [n for n in os.listdir(store.course_dir) if n.startswith('.tmp')] == []


def test_backup_never_overwrites(store):
    path = store.write_backup(document(), moment(0))
    changed = dict(document(), enrolments=[])
    with pytest.raises(BackupError, match='refusing to overwrite'):
        store.write_backup(changed, moment(0))
    assert json.load(open(path)) == document()
    assert [n for n in os.listdir(store.course_dir) if n.startswith('.tmp')] == []


def test_newest_and_list_in_time_order(store):
    assert store.newest() is None and store.backups() == []
    paths = [store.write_backup(document(), moment(s)) for s in (30, 5, 17)]
    open(os.path.join(store.course_dir, 'notes.txt'), 'w').close()
    assert store.backups() == sorted(paths)
    assert store.newest() == paths[0]


def test_load_gives_back_what_was_written(store):
    assert store.load_backup(store.write_backup(document(), moment(0))) == document()


def write_raw(store, name, content):
    os.makedirs(store.course_dir, exist_ok=True)
    path = os.path.join(store.course_dir, name)
    with open(path, 'w') as handle:
        handle.write(content if isinstance(content, str) else json.dumps(content))
    return path


def damaged(**changes):
    doc = document()
    doc.update(changes)
    return doc


@pytest.mark.parametrize('content,message', [
    ('{"format": "cemu.moodle.enrol', 'damaged or not JSON'),
    ('[]', 'not a cemu.moodle enrolment backup'),
    ({'format': 'other.tool', 'format_version': 1}, 'not a cemu.moodle enrolment backup'),
    (damaged(format_version=2), 'format version 2'),
    (damaged(site={'url': 'https://other.example.edu'}), 'taken from site https://other.example.edu'),
    (damaged(course={'id': 7, 'shortname': 'KA2'}), 'backup of course 7 \\(KA2\\), not of course 2 \\(KA1\\)'),
    (damaged(enrolments={}), 'damaged: instances and enrolments must be lists'),
    (damaged(enrolments=[{'userid': '1'}]), r'damaged: enrolments\[0\].userid must be an integer'),
])
def test_foreign_or_damaged_backup_is_refused_naming_the_file(store, content, message):
    path = write_raw(store, 'enrolments-20260820T100000.000000Z.json', content)
    with pytest.raises(BackupError, match=message) as err:
        store.load_backup(path)
    assert path in str(err.value)


def test_row_of_an_unlisted_instance_is_refused(store):
    doc = document()
    doc['enrolments'][0]['instanceid'] = 99
    with pytest.raises(BackupError, match='instance 99'):
        store.load_backup(write_raw(store, 'enrolments-20260820T100000.000000Z.json', doc))


def test_same_site_written_differently_is_accepted(store):
    doc = damaged(site={'url': 'https://moodle.EXAMPLE.edu'})
    doc['site']['url'] = 'HTTPS://moodle.example.EDU/'
    assert store.load_backup(write_raw(store, 'enrolments-20260820T100000.000000Z.json', doc))


def test_missing_file_is_a_clear_error(store):
    with pytest.raises(BackupError, match='cannot read backup file .*nothing.json'):
        store.load_backup(os.path.join(store.course_dir, 'nothing.json'))


def test_retention_keeps_newest_and_anything_restored(store):
    paths = [store.write_backup(document(), moment(s)) for s in range(5)]
    store.save_record(paths[1], {'created_enrolments': [1]})
    assert store.retention_victims(0) == []
    assert store.retention_victims(2) == [paths[0], paths[2]]
    store.remove_backups(store.retention_victims(2))
    assert store.backups() == [paths[1], paths[3], paths[4]]


def test_record_written_private_and_merged(store):
    backup = store.write_backup(document(), moment(0))
    first = {'created_enrolments': [1], 'updated_enrolments': [
        {'userid': 2, 'before': {'timestart': 50}, 'after': {'timestart': 10}}],
        'assigned_roles': [{'userid': 1, 'roleid': 5}]}
    path = store.save_record(backup, first)
    second = {'created_enrolments': [1, 3], 'updated_enrolments': [
        {'userid': 2, 'before': {'timestart': 10}, 'after': {'timestart': 10}}],
        'assigned_roles': [{'userid': 1, 'roleid': 5}, {'userid': 3, 'roleid': 5}]}
    store.save_record(backup, second)
    record = store.load_record(backup)
    assert mode(path) == 0o600 and mode(store.records_dir) == 0o700
    assert record['format'] == 'cemu.moodle.restore_record' and record['backup_file'] == os.path.basename(backup)
    assert record['created_enrolments'] == [1, 3]
    assert record['updated_enrolments'] == first['updated_enrolments']
    assert record['assigned_roles'] == [{'userid': 1, 'roleid': 5}, {'userid': 3, 'roleid': 5}]


def test_record_merged_into_a_given_earlier_record_and_removed(store):
    backup = store.write_backup(document(), moment(0))
    assert store.load_record(backup) is None
    store.save_record(backup, {'created_enrolments': [1]})
    earlier = store.load_record(backup)
    store.save_record(backup, {'created_enrolments': [2]})
    store.save_record(backup, {'created_enrolments': [3]}, earlier=earlier)
    assert store.load_record(backup)['created_enrolments'] == [1, 3]
    store.remove_record(backup)
    assert store.load_record(backup) is None


def test_newest_restored(store):
    paths = [store.write_backup(document(), moment(s)) for s in range(3)]
    assert store.newest_restored() is None
    store.save_record(paths[1], {'created_enrolments': [1]})
    assert store.newest_restored() == paths[1]


def test_retention_counts_a_backup_about_to_be_written(store):
    paths = [store.write_backup(document(), moment(s)) for s in range(3)]
    pending = os.path.join(store.course_dir, 'enrolments-20260820T100009.000000Z.json')
    assert store.retention_victims(2, pending=pending) == paths[:2]


def test_merge_record_from_nothing():
    assert merge_record(None, {'created_enrolments': [4]}) == {
        'created_enrolments': [4], 'updated_enrolments': [], 'assigned_roles': [], 'settled_users': [],
        'deleted_users': []}


def test_failed_write_leaves_no_temp_file(store, monkeypatch):
    def broken_fsync(fd):
        raise OSError(5, 'Input/output error')
    monkeypatch.setattr(backup_store.os, 'fsync', broken_fsync)
    with pytest.raises(OSError):
        store.write_backup(document(), moment(0))
    assert os.listdir(store.course_dir) == []


def test_record_would_change_only_when_something_is_new():
    earlier = merge_record(None, {'created_enrolments': [1], 'settled_users': [1, 2], 'deleted_users': [9]})
    assert not record_would_change(earlier, {'created_enrolments': [], 'settled_users': [2], 'deleted_users': [9]})
    assert record_would_change(earlier, {'settled_users': [3]})
    assert record_would_change(earlier, {'deleted_users': [8]})
    assert record_would_change(None, {'settled_users': [1]})
