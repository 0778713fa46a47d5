# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""moodle_site_check against the simulator: one message per site listing every problem, nothing written."""

from __future__ import annotations

import json
import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import HISTORY_FUNCTIONS, REQUIRED_FUNCTIONS
from ansible_collections.cemu.moodle.plugins.modules import moodle_site_check
from tests.simulator import Simulator
from tests.simulator.registry import KEEP_ACCESS_SERVICE
from tests.unit.module_args import as_target, patch_module_args

TOKEN = 'site-check-token-000000000001'


@pytest.fixture(scope='module')
def sim():
    simulator = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def fresh(sim, monkeypatch):
    sim.reset('demo', '4.5')
    for name in ('MOODLE_URL', 'MOODLE_TOKEN', 'MOODLE_VALIDATE_CERTS', 'MOODLE_CA_PATH'):
        monkeypatch.delenv(name, raising=False)


def run(sim, capsys, token=TOKEN, **options):
    args = dict({'moodle_url': sim.url, 'moodle_token': token}, **options)
    with patch_module_args(args), as_target():
        with pytest.raises(SystemExit):
            moodle_site_check.main()
    return json.loads(capsys.readouterr().out)


def only_reads(sim):
    return {call['function'] for call in sim.calls()} <= {'core_webservice_get_site_info',
                                                          'local_keepaccess_get_site_settings'}


def test_a_sound_site_passes_with_its_time_zone_plugin_version_and_the_end_in_that_zone(sim, capsys):
    result = run(sim, capsys, end='2099-06-30')
    assert not result.get('failed') and result['changed'] is False
    assert (result['timezone'], result['plugin_version']) == ('Europe/Berlin', 2026120200)
    assert result['end_iso'] == '2099-06-30T23:59:59+02:00' and result['run_id'].startswith('ka-')
    assert only_reads(sim)


def test_a_wrong_token_is_one_message_for_the_site(sim, capsys):
    result = run(sim, capsys, token='not-a-token-000000000000000001', end='2099-06-30')
    assert result['failed'] and result['msg'].count('failed its check') == 1
    assert sim.url in result['msg'] and 'token' in result['msg'] and len(result['problems']) == 1


def test_a_site_without_the_companion_plugin_says_so(sim, capsys):
    sim.add_token('core-only-token-00000000000001',
                  functions=[name for name in KEEP_ACCESS_SERVICE if not name.startswith('local_keepaccess_')])
    result = run(sim, capsys, token='core-only-token-00000000000001', end='2099-06-30')
    assert result['failed'] and 'local_keepaccess is not installed' in result['msg']
    assert 'cemu.moodle.moodle_companion' in result['msg']


def test_every_problem_is_listed_in_one_message(sim, capsys):
    lacking = ('local_keepaccess_get_course_history', 'core_course_get_courses_by_field')
    sim.add_token('partial-token-000000000000001', functions=[f for f in KEEP_ACCESS_SERVICE if f not in lacking])
    result = run(sim, capsys, token='partial-token-000000000000001', end='2020-01-31')
    assert result['failed'] and len(result['problems']) == 2
    assert all(name in result['problems'][0] for name in lacking)
    assert "end '2020-01-31'" in result['problems'][1] and 'already past' in result['problems'][1]
    assert result['msg'].startswith('Moodle site %s failed its check' % sim.url) and '2) ' in result['msg']


@pytest.mark.parametrize('end,expected', [
    ('2020-01-31', 'already past'),
    ('31/01/2027', 'is not a date'),
    ('2027-02-30', 'not a valid date'),
])
def test_a_past_or_unparsable_end_fails_the_site(sim, capsys, end, expected):
    result = run(sim, capsys, end=end)
    assert result['failed'] and expected in result['msg'] and only_reads(sim)


def test_a_past_end_is_accepted_when_allowed(sim, capsys):
    assert not run(sim, capsys, end='2020-01-31', allow_past=True).get('failed')


def test_past_is_the_sites_clock(sim, capsys):
    sim.shift_clock(200 * 365 * 86400)           # the site's clock is far ahead of the controller's
    assert 'already past' in run(sim, capsys, end='2099-06-30')['msg']


def test_course_end_checks_its_fallback_here(sim, capsys):
    assert run(sim, capsys, end='course_end')['end'] == 'course_end'
    assert 'end_fallback' in run(sim, capsys, end='course_end', end_fallback='2020-01-31')['msg']


def test_the_check_asks_for_every_function_the_collection_calls():
    assert set(REQUIRED_FUNCTIONS + HISTORY_FUNCTIONS) <= set(KEEP_ACCESS_SERVICE)
