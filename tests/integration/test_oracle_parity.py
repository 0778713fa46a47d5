# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moodle's own procedure against our role, in CI, without a real Moodle.

tests/live/oracle_outcomes.json holds, per Moodle version, the oracle's states as a real Moodle built
them and what Moodle's own procedure left per user (recorded by tests/live/test_oracle.py with
ORACLE_RECORD=1). Here each state is built in the simulator, ``playbooks/keep_access.yml`` runs with
the least-privilege service token and the same relative end date, and every user's outcome (manual
enrolment status, start, end; manual roles) is compared with Moodle's through the same deviation table
as the live oracle (tests/live/oracle_compare.py). A difference README.md does not document fails:
so the simulator and our rules cannot drift from Moodle unnoticed.
"""

import datetime
import json
import os
import time

import pytest

from tests.live import oracle_compare
from tests.live.live_backend import LIVE_DIR
from tests.live.oracle_simulator import SimulatedOracle


def load(name):
    with open(os.path.join(LIVE_DIR, name)) as handle:
        return json.load(handle)


SPEC = load('oracle_states.json')
OUTCOMES = load('oracle_outcomes.json')
VERSIONS = sorted(OUTCOMES['versions'])


def spec_users():
    return dict((state['name'], sorted(state['users'])) for state in SPEC['states'])


@pytest.fixture(scope='module', params=VERSIONS)
def parity(request, tmp_path_factory):
    version = request.param
    recorded = OUTCOMES['versions'][version]
    anchor = int(time.time()) // oracle_compare.DAY * oracle_compare.DAY
    end_date = (datetime.datetime.fromtimestamp(anchor, datetime.timezone.utc).date()
                + datetime.timedelta(days=recorded['end_after_days'])).isoformat()
    simulated = SimulatedOracle(version)
    try:
        end = simulated.end_of(end_date)
        for name, state in sorted(recorded['states'].items()):
            befores = dict((key, user['before']) for key, user in state['users'].items())
            simulated.build(name, state['instances'], befores, anchor, end)
        rebuilt = dict((name, simulated.snapshot(name, anchor, end)) for name in recorded['states'])
        code, output = simulated.run_role(str(tmp_path_factory.mktemp('oracle-' + version)), end_date)
        after = dict((name, simulated.snapshot(name, anchor, end)) for name in recorded['states'])
        yield {'version': version, 'recorded': recorded, 'rebuilt': rebuilt, 'after': after, 'code': code,
               'output': output, 'missing': sorted(simulated.missing)}
    finally:
        simulated.close()


def test_the_recordings_cover_every_state_and_user_of_the_spec():
    assert VERSIONS, 'oracle_outcomes.json holds no recorded Moodle outcomes'
    for version in VERSIONS:
        recorded = OUTCOMES['versions'][version]['states']
        assert dict((name, sorted(state['users'])) for name, state in recorded.items()) == spec_users(), \
            'oracle_states.json changed since the Moodle %s outcomes were recorded: re-record (tests/live/README.md)' \
            % version


def test_the_recorded_states_are_the_states_of_the_spec():
    for version in VERSIONS:
        recorded = OUTCOMES['versions'][version]['states']
        problems = []
        for state in [s for s in SPEC['states'] if s['name'] in recorded]:
            befores = dict((key, user['before']) for key, user in recorded[state['name']]['users'].items())
            problems.extend(oracle_compare.build_problems(state, befores))
        assert problems == [], 'Moodle %s: %s' % (version, '\n'.join(problems))


def test_the_simulator_holds_each_state_as_moodle_held_it(parity):
    assert parity['missing'] == [], 'the simulator cannot hold: %s' % ', '.join(parity['missing'])
    for name, state in sorted(parity['recorded']['states'].items()):
        befores = dict((key, user['before']) for key, user in state['users'].items())
        assert parity['rebuilt'][name] == befores, name


def test_our_role_differs_from_moodles_procedure_only_where_the_readme_says(parity, capsys):
    states = {}
    for name, state in parity['recorded']['states'].items():
        states[name] = {'instances': state['instances'], 'users': dict(
            (key, {'before': user['before'], 'moodle': user['moodle'],
                   'ours': oracle_compare.outcome(parity['after'][name][key]), 'sync_changed': user['sync_changed']})
            for key, user in state['users'].items())}
    verdict = oracle_compare.verdict('simulator parity with Moodle %s' % parity['version'], states,
                                     oracle_compare.read_documented_bullets())
    with capsys.disabled():
        print('\n' + verdict.summary())
        if verdict.judged:
            print(verdict.table())
    assert not verdict.undocumented, (
        "our role in the simulator differs from Moodle %s's own procedure where README.md says nothing "
        '(playbook rc=%d):\n%s' % (parity['version'], parity['code'], verdict.table(only_undocumented=True)))
