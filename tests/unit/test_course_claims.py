# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Course claims: a run claims the course only when it writes, and two runs never interleave a read-plan-write.

A module reads and plans without a claim; when it has something to write it claims the course, reads and
plans again under the claim, and writes what that second plan says. These tests make another run write
between the first (unclaimed) read and the claim, and check that the write follows the second read.
"""

from __future__ import annotations

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi
from ansible_collections.cemu.moodle.plugins.modules import (
    moodle_backup_enrolments, moodle_restore_manual, moodle_set_enrol_end)
from ansible_collections.cemu.moodle.plugins.plugin_utils.in_process import run_in_process
from tests.simulator import Simulator

TOKEN = 'course-claims-token-00000000001'
KA1 = 2
END = '2099-06-30'
APPLY = 'local_keepaccess_apply_manual_enrolments'
CLAIM_CALLS = ('local_keepaccess_claim_course', 'local_keepaccess_release_course')


@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='recorded', token=TOKEN).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(server):
    server.reset('recorded', '4.5')
    return server


def task(sim, module, **args):
    result = run_in_process(module, dict({'moodle_url': sim.url, 'moodle_token': TOKEN, 'course': 'KA1'}, **args), {},
                            name='cemu.moodle.' + module.__name__.rsplit('.', 1)[-1])
    assert not result.get('failed'), result
    return result


def restored(sim, backup_dir):
    """KA1 backed up and restored as manual enrolments (no end date yet)."""
    task(sim, moodle_backup_enrolments, backup_dir=str(backup_dir))
    assert task(sim, moodle_restore_manual, backup_dir=str(backup_dir), run_id='restore-run')['changed']


def calls_since(sim, since, functions):
    return [call['function'] for call in sim.calls()[since:] if call['function'] in functions]


def manual_ends(sim):
    return dict((ue['userid'], ue['timeend']) for ue in sim.course_enrolments(KA1)['userenrolments']
                if ue['enrol'] == 'manual')


@pytest.fixture
def another_run_after_the_first_read(monkeypatch):
    """Make ``write(...)`` run once, right after the next read of a course's enrolments answered."""
    pending = []
    read = KeepAccessApi.read_course_enrolments

    def read_then_let_another_run_write(self, courseid, *args, **kwargs):
        answer = read(self, courseid, *args, **kwargs)
        while pending:
            pending.pop()()
        return answer

    monkeypatch.setattr(KeepAccessApi, 'read_course_enrolments', read_then_let_another_run_write)
    return pending.append


def test_a_rerun_that_changes_nothing_claims_nothing(sim, tmp_path):
    restored(sim, tmp_path)
    task(sim, moodle_set_enrol_end, end=END, run_id='first-run')
    since = len(sim.calls())
    assert task(sim, moodle_restore_manual, backup_dir=str(tmp_path))['changed'] is False
    assert task(sim, moodle_set_enrol_end, end=END)['changed'] is False
    assert calls_since(sim, since, CLAIM_CALLS) == []


def test_a_run_that_writes_claims_the_course_and_releases_it(sim, tmp_path):
    restored(sim, tmp_path)
    since = len(sim.calls())
    assert task(sim, moodle_set_enrol_end, end=END, run_id='end-run')['changed']
    assert calls_since(sim, since, CLAIM_CALLS + (APPLY,)) == [CLAIM_CALLS[0], APPLY, CLAIM_CALLS[1]]
    assert sim.leases() == []


def test_a_write_follows_the_read_made_under_the_claim_not_the_one_before(
        sim, tmp_path, another_run_after_the_first_read):
    """Run A reads KA1 (every student without an end date) and plans; before A claims, run B sets the same
    end date everywhere. A must read again under its claim and write nothing: its first plan is stale."""
    restored(sim, tmp_path)
    other = {}
    another_run_after_the_first_read(
        lambda: other.update(result=task(sim, moodle_set_enrol_end, end=END, run_id='run-b'), ends=manual_ends(sim)))
    since = len(sim.calls())
    result = task(sim, moodle_set_enrol_end, end=END, run_id='run-a')
    assert other['result']['changed'], 'run B wrote while run A had only read (A held no claim yet)'
    assert result['changed'] is False and result['changed_users'] == []
    assert calls_since(sim, since, (APPLY,)) == [APPLY], 'only run B wrote'
    assert set(row['runid'] for row in sim.history(KA1) if row['step'] == 'enddate') == {'run-b'}
    assert manual_ends(sim) == other['ends']


def test_a_restore_replans_under_the_claim_after_another_run_restored_the_course(sim, tmp_path,
                                                                                 another_run_after_the_first_read):
    """The same for the restore: B (another controller) restores KA1 between A's read and A's claim."""
    task(sim, moodle_backup_enrolments, backup_dir=str(tmp_path / 'a'))
    task(sim, moodle_backup_enrolments, backup_dir=str(tmp_path / 'b'))
    other = {}
    another_run_after_the_first_read(lambda: other.setdefault('result', task(
        sim, moodle_restore_manual, backup_dir=str(tmp_path / 'b'), run_id='run-b')))
    since = len(sim.calls())
    result = task(sim, moodle_restore_manual, backup_dir=str(tmp_path / 'a'), run_id='run-a')
    assert other['result']['changed'] and other['result']['created']
    assert (result['changed'], result['created'], result['updated']) == (False, [], [])
    assert calls_since(sim, since, (APPLY,)) == [APPLY], 'only run B wrote'
    assert set(row['runid'] for row in sim.history(KA1)) == {'run-b'}


def test_a_run_with_something_to_write_stops_while_another_run_holds_the_course(sim, tmp_path):
    restored(sim, tmp_path)
    KeepAccessApi(MoodleClient(sim.url, TOKEN, retries=0)).claim_course(KA1, 'awx-job-17')
    since = len(sim.calls())
    result = run_in_process(moodle_set_enrol_end, {'moodle_url': sim.url, 'moodle_token': TOKEN, 'course': 'KA1',
                                                   'end': END}, {}, name='cemu.moodle.moodle_set_enrol_end')
    assert result.get('failed') and 'awx-job-17' in result['msg']
    assert calls_since(sim, since, (APPLY,)) == []
    assert not any(manual_ends(sim).values())
