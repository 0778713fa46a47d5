# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KeepAccessApi's history and claim calls against the simulator over real HTTP."""

from __future__ import annotations

import re

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient, MoodleError
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi, new_run_id
from tests.simulator import Simulator

KA1 = 2
PROBE, OTHER = 45, 46
T2 = 1900000000
TOKEN = 'history-client-service-token-1'


@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='recorded').start()
    yield sim
    sim.stop()


@pytest.fixture
def api(server):
    server.reset('recorded', '4.5')
    server.add_service_token(TOKEN)
    return KeepAccessApi(MoodleClient(server.url, TOKEN, retries=0))


def test_writes_of_a_run_carry_its_id_and_step_into_moodles_history(api):
    api.claim_course(KA1, 'run-1')
    api.apply_manual(KA1, [{'userid': PROBE, 'timeend': T2}], run={'runid': 'run-1', 'step': 'restore'})
    api.remove_manual(KA1, [{'userid': PROBE, 'unenrol': 1}], run={'runid': 'run-1', 'step': 'revert'})
    records = api.read_course_history(KA1)
    assert [(r['userid'], r['runid'], r['step'], r['hadbefore'], r['hasafter'], r['timeendafter'])
            for r in records] == [(PROBE, 'run-1', 'restore', 0, 1, T2), (PROBE, 'run-1', 'revert', 1, 0, 0)]


def test_history_is_read_across_pages(api):
    for userid in (PROBE, OTHER):
        api.apply_manual(KA1, [{'userid': userid}])
    assert [r['userid'] for r in api.read_course_history(KA1, page_records=1)] == [PROBE, OTHER]


def test_a_claimed_course_stops_a_second_run_with_the_holders_name(api):
    api.claim_course(KA1, 'awx-job-17')
    with pytest.raises(MoodleError) as raised:
        api.claim_course(KA1, 'cron-0300')
    assert raised.value.errorcode == 'courseclaimed' and 'awx-job-17' in str(raised.value)
    with pytest.raises(MoodleError) as raised:
        api.apply_manual(KA1, [{'userid': PROBE}], run={'runid': 'cron-0300', 'step': 'restore'})
    assert raised.value.errorcode == 'courseclaimed'


def test_a_second_run_waits_for_the_claim_to_end(api, server):
    api.claim_course(KA1, 'first', seconds=60)
    naps = []

    def sleep(seconds):
        naps.append(seconds)
        server.shift_clock(30)          # time passes on the site while the second run waits

    clock = iter(range(0, 1000, 5)).__next__
    answer = api.claim_course(KA1, 'second', wait=300, sleep=sleep, clock=clock)
    assert answer['runid'] == 'second' and len(naps) == 2


def test_waiting_has_an_end_and_says_how_long_it_waited(api):
    api.claim_course(KA1, 'first', seconds=3600)
    clock = iter(range(0, 1000, 10)).__next__
    with pytest.raises(MoodleError) as raised:
        api.claim_course(KA1, 'second', wait=30, sleep=lambda seconds: None, clock=clock)
    assert 'first' in str(raised.value) and 'waited 30 s' in str(raised.value)


def test_release_ends_only_the_runs_own_claim(api):
    api.claim_course(KA1, 'first')
    assert api.release_course(KA1, 'second') is False
    assert api.release_course(KA1, 'first') is True
    assert api.claim_course(KA1, 'second')['runid'] == 'second'


def test_a_claim_held_across_a_block_is_released_also_when_the_block_fails(api):
    with pytest.raises(RuntimeError):
        with api.course_claimed(KA1, 'run-x'):
            with pytest.raises(MoodleError):
                api.claim_course(KA1, 'run-y')
            raise RuntimeError('planning failed')
    assert api.claim_course(KA1, 'run-y')['runid'] == 'run-y'


def test_run_ids_are_unique_and_fit_the_plugins_runid():
    first, second = new_run_id(now=1796083200), new_run_id(now=1796083200)
    assert first != second and first.startswith('ka-20261201T000000Z-')
    assert re.fullmatch(r'[A-Za-z0-9_-]{1,64}', first)
