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


# ----- undo from a fresh controller (state: absent) -----
REMOVE = 'local_keepaccess_remove_manual_enrolments'
OLDER, STUDENT = 46, 5


def manual_state(sim):
    """KA1's manual enrolments and manual roles, per user."""
    answer = sim.course_enrolments(2)
    enrolments = dict((ue['userid'], (ue['status'], ue['timestart'], ue['timeend']))
                      for ue in answer['userenrolments'] if ue['enrol'] == 'manual')
    roles = sorted((ra['userid'], ra['roleid']) for ra in answer['roleassignments'] if ra['component'] == '')
    return enrolments, roles


def undo(sim, backup_dir, **args):
    return task(sim, moodle_restore_manual, backup_dir=str(backup_dir), state='absent', **args)


def test_an_undo_from_a_fresh_controller_puts_the_course_back_and_a_second_one_does_nothing(sim, tmp_path):
    before = manual_state(sim)
    convert(sim, tmp_path / 'controller-a', run_id='first-run')
    undone = undo(sim, tmp_path / 'controller-b', run_id='undo-run')          # empty backup folder
    assert undone['changed'] and undone['counts']['removed'] >= 30 and undone['left_alone'] == []
    assert undone['course']['shortname'] == 'KA1'
    assert manual_state(sim) == before
    assert set(row['step'] for row in sim.history(2) if row['runid'] == 'undo-run') == {'revert'}
    again = undo(sim, tmp_path / 'controller-c')
    assert (again['changed'], again['removed'], again['reverted']) == (False, [], [])


def test_a_check_mode_undo_changes_nothing_and_shows_each_user(sim, tmp_path):
    convert(sim, tmp_path / 'controller-a', run_id='first-run')
    state = sim.dump_state()
    planned = run_in_process(moodle_restore_manual, {'moodle_url': sim.url, 'moodle_token': TOKEN, 'course': 'KA1',
                                                     'backup_dir': str(tmp_path / 'controller-b'), 'state': 'absent'},
                             {}, check_mode=True, diff=True, name='cemu.moodle.moodle_restore_manual')
    assert planned['changed'] and sim.dump_state() == state
    changes = planned['user_changes']
    assert changes['before']['student0001']['timeend'] > 0 and 'student0001' not in changes['after']
    assert any(line.startswith('student0001') and 'removed' in line
               for line in planned['diff']['prepared'].splitlines()), planned['diff']['prepared']


def test_an_undo_with_a_companion_before_2026120130_removes_then_puts_back(sim, tmp_path, monkeypatch):
    from tests.simulator import functions_keepaccess
    sim.enrol(sim.manual_instance(2)['id'], OLDER, roleid=STUDENT)     # a manual enrolment from before, no end
    before = manual_state(sim)
    convert(sim, tmp_path / 'controller-a', run_id='first-run')
    assert manual_state(sim)[0][OLDER][2] > 0                            # the end-date step dated it
    monkeypatch.setattr(functions_keepaccess, 'PLUGIN_VERSION', 2026120110)
    writes = spy_on_writes(monkeypatch)
    undo(sim, tmp_path / 'controller-b')
    assert [function for function, _rows in writes] == ['remove_manual', 'apply_manual']
    assert all(set(row) <= {'userid', 'unenrol', 'roleids'} for row in writes[0][1])   # 2026120110's remove rows
    assert writes[1][1] == [{'userid': OLDER, 'timeend': 0}]
    assert manual_state(sim) == before


def spy_on_writes(monkeypatch):
    """[(method, rows the module gave)] of KeepAccessApi's writes from now on."""
    from ansible_collections.cemu.moodle.plugins.module_utils import keepaccess
    writes = []
    for name in ('remove_manual', 'apply_manual'):
        original = getattr(keepaccess.KeepAccessApi, name)

        def spy(self, courseid, rows, *args, _name=name, _original=original, **kwargs):
            answer = _original(self, courseid, rows, *args, **kwargs)
            writes.append((_name, [dict(row) for row in rows]))
            return answer
        monkeypatch.setattr(keepaccess.KeepAccessApi, name, spy)
    return writes


def test_an_undo_with_the_current_companion_is_one_write_per_user(sim, tmp_path, monkeypatch):
    sim.enrol(sim.manual_instance(2)['id'], OLDER, roleid=STUDENT)
    before = manual_state(sim)
    convert(sim, tmp_path / 'controller-a', run_id='first-run')
    writes = spy_on_writes(monkeypatch)
    undo(sim, tmp_path / 'controller-b')
    assert [function for function, _rows in writes] == ['remove_manual']
    assert {'userid': OLDER, 'unenrol': 0, 'timeend': 0} in writes[0][1]
    assert manual_state(sim) == before
