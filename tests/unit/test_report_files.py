# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run report's files: module keep_access_report_files run as its action plugin runs it, in-process."""

import json
import os
import stat

from ansible_collections.cemu.moodle.plugins.filter.keep_access_report import (
    keep_access_course_result, keep_access_report)
from ansible_collections.cemu.moodle.plugins.modules import keep_access_report_files
from ansible_collections.cemu.moodle.plugins.plugin_utils.in_process import run_in_process

from tests.unit.test_report import BACKUP, END, RESTORE, SITE


def report():
    record = keep_access_course_result(BACKUP, RESTORE, END, course='KA1', site=SITE)
    return keep_access_report([record], generated_at='2027-09-01T02:00:00Z')


def write(dest, check_mode=False, **args):
    return run_in_process(keep_access_report_files, dict(dict(dest=str(dest), report=report()), **args),
                          environment={}, check_mode=check_mode, name='cemu.moodle.keep_access_report_files')


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_both_files_are_written_private_in_a_private_folder(tmp_path):
    dest = tmp_path / 'reports'
    result = write(dest)
    assert not result.get('failed'), result.get('msg')
    expected = report()
    assert result['json_file'] == str(dest / (expected['file_stem'] + '.json'))
    assert result['csv_file'] == str(dest / (expected['file_stem'] + '.csv'))
    assert mode(dest) == 0o700
    assert mode(result['json_file']) == 0o600 and mode(result['csv_file']) == 0o600
    with open(result['json_file']) as handle:
        assert json.load(handle) == expected['summary']
    with open(result['csv_file']) as handle:
        assert handle.read() == expected['csv']
    assert sorted(os.listdir(str(dest))) == sorted(os.path.basename(result[k]) for k in ('json_file', 'csv_file'))


def test_missing_parent_folders_are_made_private_like_the_backup_folders(tmp_path):
    dest = tmp_path / 'cemu.moodle' / 'reports'
    write(dest)
    assert mode(tmp_path / 'cemu.moodle') == 0o700 and mode(dest) == 0o700


def test_an_existing_folder_is_made_private_and_other_files_stay(tmp_path):
    dest = tmp_path / 'reports'
    dest.mkdir(mode=0o755)
    (dest / 'older-report.json').write_text('{}')
    write(dest)
    assert mode(dest) == 0o700
    assert (dest / 'older-report.json').read_text() == '{}'


def test_check_mode_writes_nothing_and_names_the_files(tmp_path):
    dest = tmp_path / 'reports'
    result = write(dest, check_mode=True)
    assert result['changed'] is True
    assert result['json_file'].startswith(str(dest)) and not dest.exists()


def test_a_report_that_is_not_the_filters_result_is_refused_by_name(tmp_path):
    result = run_in_process(keep_access_report_files, {'dest': str(tmp_path), 'report': {'table': []}},
                            environment={}, name='cemu.moodle.keep_access_report_files')
    assert result['failed'] is True
    assert result['msg'] == ('report lacks summary, csv, file_stem: give the result of the filter '
                             'cemu.moodle.keep_access_report')


def test_a_folder_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a folder')
    result = write(blocker / 'reports')
    assert result['failed'] is True
    assert result['msg'].startswith('cannot write the run report in %s: ' % (blocker / 'reports'))
