# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A second run from a fresh controller (an AWX job: empty backup folder) knows from Moodle what earlier runs did.

The first run converts KA1 (database enrolments without an end) and sets an end date. The same run from a
controller with an empty backup folder must not merge those students again: Moodle's rule "no end wins"
would clear every end date the first run set. With the companion's history it plans no write at all; a
token without the history functions shows what happens without it.
"""

from __future__ import annotations

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import HISTORY_FUNCTIONS
from ansible_collections.cemu.moodle.plugins.modules import (
    moodle_backup_enrolments, moodle_restore_manual, moodle_set_enrol_end)
from ansible_collections.cemu.moodle.plugins.plugin_utils.in_process import run_in_process
from tests.simulator import Simulator
from tests.simulator.registry import KEEP_ACCESS_SERVICE

TOKEN = 'fresh-controller-token-000000001'
LEGACY = 'fresh-controller-legacy-token-01'
END = '2099-06-30'
APPLY = 'local_keepaccess_apply_manual_enrolments'


@pytest.fixture
def sim():
    simulator = Simulator(version='4.5', fixture='recorded', token=TOKEN).start()
    simulator.add_token(LEGACY, functions=[name for name in KEEP_ACCESS_SERVICE if name not in HISTORY_FUNCTIONS])
    yield simulator
    simulator.stop()


def task(sim, module, token=TOKEN, **args):
    result = run_in_process(module, dict({'moodle_url': sim.url, 'moodle_token': token, 'course': 'KA1'}, **args), {},
                            name='cemu.moodle.' + module.__name__.rsplit('.', 1)[-1])
    assert not result.get('failed'), result
    return result


def convert(sim, backup_dir, token=TOKEN, run_id=None):
    """The role's three steps for KA1; the results."""
    backup = task(sim, moodle_backup_enrolments, token, backup_dir=str(backup_dir))
    restore = task(sim, moodle_restore_manual, token, backup_dir=str(backup_dir), run_id=run_id)
    end = task(sim, moodle_set_enrol_end, token, end=END, run_id=run_id)
    return backup, restore, end


def manual_ends(sim):
    """{userid: timeend} of KA1's manual enrolments."""
    answer = sim.course_enrolments(2)
    return dict((ue['userid'], ue['timeend']) for ue in answer['userenrolments'] if ue['enrol'] == 'manual')


def apply_rows(sim, since):
    return [call for call in sim.calls()[since:] if call['function'] == APPLY]


def test_a_fresh_controller_changes_nothing_and_never_clears_an_end_date(sim, tmp_path):
    first = convert(sim, tmp_path / 'controller-a', run_id='first-run')
    assert first[1]['changed'] and first[2]['changed']
    ends = manual_ends(sim)
    assert len([end for end in ends.values() if end]) >= 30        # the students got the end date
    calls = len(sim.calls())
    _backup, restore, end = convert(sim, tmp_path / 'controller-b', run_id='second-run')
    assert (restore['changed'], restore['created'], restore['updated']) == (False, [], [])
    assert end['changed'] is False
    assert apply_rows(sim, calls) == [], 'no write at all, so no end date cleared even for a moment'
    assert manual_ends(sim) == ends


def test_the_writes_name_their_run_and_step_in_moodle_and_the_claims_are_released(sim, tmp_path):
    convert(sim, tmp_path / 'controller-a', run_id='first-run')
    steps = sorted(set((row['runid'], row['step']) for row in sim.history(2)))
    assert steps == [('first-run', 'enddate'), ('first-run', 'restore')]
    assert sim.leases() == []


def test_without_moodles_history_a_fresh_controller_clears_the_end_dates(sim, tmp_path):
    """What the history prevents: the restore merges the converted students again and "no end wins"."""
    convert(sim, tmp_path / 'controller-a', token=LEGACY)
    ends = manual_ends(sim)
    calls = len(sim.calls())
    task(sim, moodle_backup_enrolments, LEGACY, backup_dir=str(tmp_path / 'controller-b'))
    restore = task(sim, moodle_restore_manual, LEGACY, backup_dir=str(tmp_path / 'controller-b'))
    assert restore['changed'] and restore['updated']
    cleared = [userid for userid, end in manual_ends(sim).items() if ends[userid] and not end]
    assert len(cleared) >= 30, 'the end dates were cleared'
    assert apply_rows(sim, calls)
