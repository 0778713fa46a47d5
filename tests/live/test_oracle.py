# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oracle: Moodle's own procedure next to ours, user by user, on a real Moodle.

Every state of oracle_states.json is built twice (tests/live/oracle.php): on copy M Moodle's own code
runs the manual procedure (backup and restore controllers, "restore users as manual enrolments";
the Participants search with Roles: Student, Status: Active, then "Edit selected manual enrolments",
end date only); on copy O ``playbooks/keep_access.yml`` runs with the least-privilege token of
MOODLE_TOKEN and the same end date. Per user, the manual enrolment (status, start, end) and the manual
roles must be equal, except where README.md's "What differs from doing it by hand" says why
(oracle_compare.DEVIATIONS names the bullet). Anything else fails with a per-user table.

The same states then run in the simulator, which must leave what the real Moodle left for our role.
``ORACLE_RECORD=1`` writes this run's states and Moodle's outcomes into oracle_outcomes.json (for
the simulator parity test that runs in CI, tests/integration/test_oracle_parity.py).

Needs MOODLE_URL, MOODLE_TOKEN (the keep_access service user's token), MOODLE_LIVE_DIR and
MOODLE_LIVE_PHP like the other live tests. It deletes and rebuilds the courses ORC-* of the category
"cemu.moodle oracle" and writes rows into enrol_database's external table: a test site only.
"""

import datetime
import json
import os
import re
import subprocess
import time

import pytest

from tests.demo import runner
from tests.live import oracle_compare
from tests.live.live_backend import LIVE_DIR, record
from tests.live.oracle_simulator import SimulatedOracle

STATES_FILE = os.path.join(LIVE_DIR, 'oracle_states.json')
OUTCOMES_FILE = os.path.join(LIVE_DIR, 'oracle_outcomes.json')
ORACLE_SCRIPT = os.path.join(LIVE_DIR, 'oracle.php')
COPIES = ('M', 'O')


def load_json(path):
    with open(path) as handle:
        return json.load(handle)


def run_oracle(live, action, anchor, *arguments):
    """oracle.php as the web server's user; its JSON."""
    command = live.php + [ORACLE_SCRIPT, '--moodle=' + live.moodle_dir, '--action=' + action,
                          '--states=' + STATES_FILE, '--anchor=%d' % anchor] + list(arguments)
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=3600,
                               check=False, cwd=LIVE_DIR)
    if completed.returncode != 0:
        raise AssertionError('oracle.php --action=%s failed (rc %d): %s' % (
            action, completed.returncode, (completed.stderr or completed.stdout)[-4000:]))
    return json.loads(completed.stdout)


def version_key(release):
    """'4.5 (Build: 20241007)' -> '4.5', '5.1.3 (Build: 20260216)' -> '5.1'."""
    return re.match(r'^(\d+\.\d+)', release).group(1)


def code_version():
    """The checkout the role ran from: commit, '+' when it has uncommitted changes."""
    def git(*args):
        return subprocess.run(['git'] + list(args), cwd=LIVE_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, check=False).stdout.strip()
    changed = git('status', '--porcelain', '--', ':(top)', ':(top,exclude)tests/live/oracle_outcomes.json')
    return git('rev-parse', '--short', 'HEAD') + ('+' if changed else '')


class OracleRun:
    """One oracle run: the states as built, Moodle's procedure on M, our role on O, both read back."""

    def __init__(self, spec, prepared, read, playbook):
        self.spec = spec
        self.prepared = prepared
        self.read = read
        self.playbook = playbook
        self.anchor = prepared['anchor']
        self.end = prepared['end']
        self.version = version_key(prepared['moodle']['release'])

    def named(self, user):
        return oracle_compare.named_snapshot(user, self.anchor, self.end)

    def state_names(self):
        return [state['name'] for state in self.spec['states']]

    def before(self, name, copy):
        return dict((key, self.named(user)) for key, user in self.prepared['states'][name]['before'][copy]['users'].items())

    def instances(self, name, copy):
        return self.prepared['states'][name]['before'][copy]['instances']

    def after(self, name, copy):
        return dict((key, self.named(user)) for key, user in self.read['states'][name][copy]['users'].items())

    def sync_changed(self, name, key):
        """Whether the enrolment sync of Moodle's restore changed the user's source enrolments on M."""
        state = self.prepared['states'][name]
        return source_part(self.named(state['before']['M']['users'][key])) != source_part(
            self.named(state['restored']['users'][key]))

    def users(self, name):
        """{key: {before, moodle, ours, sync_changed}} of one state, for oracle_compare."""
        before, moodle, ours = self.before(name, 'O'), self.after(name, 'M'), self.after(name, 'O')
        return dict((key, {'before': before[key], 'moodle': oracle_compare.outcome(moodle[key]),
                           'ours': oracle_compare.outcome(ours[key]), 'sync_changed': self.sync_changed(name, key)})
                    for key in before)

    def compared(self):
        return dict((name, {'instances': self.instances(name, 'O'), 'users': self.users(name)})
                    for name in self.state_names())

    def recording(self):
        """This run as oracle_outcomes.json keeps it for the simulator parity test."""
        states = {}
        for name in self.state_names():
            step3 = self.prepared['states'][name]
            states[name] = {'instances': self.instances(name, 'O'), 'selected': step3['selected'],
                            'edited': step3['edited'], 'users': self.users(name)}
        return {'moodle': self.prepared['moodle'], 'timezone': self.prepared['timezone'],
                'recorded_on': datetime.datetime.fromtimestamp(self.anchor, datetime.timezone.utc).date().isoformat(),
                'end_after_days': self.spec['end_after_days'], 'ours_code': code_version(), 'states': states}


def source_part(snapshot):
    """The enrolments and roles of a user that are not manual."""
    return ([e for e in snapshot['enrolments'] if e['instance'] != 'manual'],
            [r for r in snapshot['roles'] if r['component'] != ''])


def end_date(anchor, days):
    return (datetime.datetime.fromtimestamp(anchor, datetime.timezone.utc).date() + datetime.timedelta(days=days)).isoformat()


@pytest.fixture(scope='module')
def oracle(live, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('oracle')
    spec = load_json(STATES_FILE)
    anchor = int(time.time()) // oracle_compare.DAY * oracle_compare.DAY
    end = end_date(anchor, spec['end_after_days'])
    started = time.monotonic()
    prepared = run_oracle(live, 'prepare', anchor, '--end=' + end)
    record('oracle on %s (%s): states built and Moodle\'s procedure run in %.0f s (build %.0f s)' % (
        live.url, prepared['moodle']['release'], time.monotonic() - started, prepared['build_seconds']))
    inventory = str(tmp / 'inventory')
    runner.write_site(inventory, live.url, 'oracle', live.token, {
        'keep_access_end': end,
        'keep_access_backup_dir': str(tmp / 'backups'),
        'keep_access_report_dir': str(tmp / 'reports'),
        'moodle_validate_certs': live.validate_certs,
    }, extra={'shortname_pattern': '^ORC-.*-O$', 'validate_certs': live.validate_certs})
    started = time.monotonic()
    code, output = runner.run_playbook(inventory, timeout=3600)
    assert live.token not in output, 'the token appeared in the playbook output'
    record('oracle: playbooks/keep_access.yml (code %s) on the O copies: rc=%d in %.0f s; recap %s' % (
        code_version(), code, time.monotonic() - started, json.dumps(runner.recap(output), sort_keys=True)))
    run = OracleRun(spec, prepared, run_oracle(live, 'read', anchor), {'code': code, 'output': output})
    if os.environ.get('ORACLE_RECORD'):
        write_recording(run)
    return run


def write_recording(run):
    data = load_json(OUTCOMES_FILE) if os.path.exists(OUTCOMES_FILE) else {
        'format': 'cemu.moodle.oracle_outcomes', 'format_version': 1, 'versions': {}}
    data['about'] = [
        'Written by tests/live/test_oracle.py with ORACLE_RECORD=1 against a real Moodle: per version, each',
        'state of oracle_states.json as the real Moodle built it (instances; per user the snapshot before),',
        "and per user what Moodle's own procedure left on copy M ('moodle') and what our role left on copy O",
        "('ours', at commit ours_code). Times are named: 0, END, or days from the run's anchor.",
        'tests/integration/test_oracle_parity.py builds these states in the simulator, runs our role and',
        "compares with 'moodle' through the same deviation table.",
    ]
    data['versions'][run.version] = run.recording()
    with open(OUTCOMES_FILE, 'w') as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write('\n')
    record('oracle: recorded the %s outcomes into %s' % (run.version, os.path.relpath(OUTCOMES_FILE)))


def test_both_copies_start_alike(oracle):
    for name in oracle.state_names():
        assert oracle.instances(name, 'M') == oracle.instances(name, 'O'), name
        assert oracle.before(name, 'M') == oracle.before(name, 'O'), name


def test_every_state_was_built_as_specified(oracle):
    problems = []
    for state in oracle.spec['states']:
        problems.extend(oracle_compare.build_problems(state, oracle.before(state['name'], 'O')))
    assert problems == [], '\n'.join(problems)


def test_every_difference_from_moodles_procedure_is_a_documented_deviation(oracle):
    verdict = oracle_compare.verdict('oracle Moodle %s' % oracle.version, oracle.compared(),
                                     oracle_compare.read_documented_bullets())
    record(verdict.summary())
    for name in oracle.state_names():
        step3 = oracle.prepared['states'][name]
        per_state = [j for j in verdict.judged if j.difference.state == name]
        record('  %-16s users %d, step 3 selected %s, differences %d (%s)' % (
            name, len(oracle.before(name, 'O')), ','.join(step3['selected']) or '-', len(per_state),
            ', '.join(sorted(set(j.kind or 'UNDOCUMENTED' for j in per_state))) or 'none'))
    if verdict.judged:
        record(verdict.table())
    assert not verdict.undocumented, 'differences from Moodle\'s own procedure that README.md does not document:\n' \
        + verdict.table(only_undocumented=True)


def test_the_simulator_leaves_what_the_real_moodle_left(oracle, tmp_path):
    """The same states in the simulator, our role run there: every user ends as on the real Moodle."""
    simulated = SimulatedOracle(oracle.version)
    try:
        for name in oracle.state_names():
            simulated.build(name, oracle.instances(name, 'O'), oracle.before(name, 'O'), oracle.anchor, oracle.end)
        end = end_date(oracle.anchor, oracle.spec['end_after_days'])
        sim_end = simulated.end_of(end)
        problems = ['%s: the simulator did not rebuild the state as the real Moodle held it (it cannot hold: %s)'
                    % (name, ', '.join(sorted(simulated.missing)) or 'nothing known')
                    for name in oracle.state_names()
                    if simulated.snapshot(name, oracle.anchor, sim_end) != oracle.before(name, 'O')]
        code, output = simulated.run_role(str(tmp_path), end)
        for name in oracle.state_names():
            real = oracle.after(name, 'O')
            for key, snapshot in sorted(simulated.snapshot(name, oracle.anchor, sim_end).items()):
                if oracle_compare.outcome(snapshot) != oracle_compare.outcome(real[key]):
                    problems.append('%s/%s: simulator %s, real Moodle %s' % (
                        name, key, oracle_compare.outcome(snapshot), oracle_compare.outcome(real[key])))
        record('oracle: the simulator (%s) ran the same states: rc=%d (real Moodle rc=%d), %d problems' % (
            oracle.version, code, oracle.playbook['code'], len(problems)))
        for problem in problems:
            record('  ' + problem)
        assert problems == [], '\n'.join(problems)
        assert code == oracle.playbook['code'], output[-3000:]
    finally:
        simulated.close()


def test_recorded_moodle_outcomes_still_hold(oracle):
    """Moodle's procedure gives the same outcome as when oracle_outcomes.json was recorded (the parity
    test in CI relies on it)."""
    recorded = load_json(OUTCOMES_FILE)['versions'].get(oracle.version) if os.path.exists(OUTCOMES_FILE) else None
    if recorded is None:
        pytest.skip('oracle_outcomes.json has no Moodle %s outcomes yet: run with ORACLE_RECORD=1' % oracle.version)
    for name in oracle.state_names():
        assert name in recorded['states'], 'state %s is not recorded: run with ORACLE_RECORD=1' % name
        users = oracle.users(name)
        assert recorded['states'][name]['instances'] == oracle.instances(name, 'O'), name
        for key, user in users.items():
            assert recorded['states'][name]['users'][key]['before'] == user['before'], (name, key)
            assert recorded['states'][name]['users'][key]['moodle'] == user['moodle'], (name, key)
