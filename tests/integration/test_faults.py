# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults in the middle of backup -> restore -> set end, then a plain re-run.

Every scenario has its own simulated Moodle (demo fixture) and backup
directory and works on course MIX301 (database, cohort and manual users) with
``batch_size: 3``, so the restore writes in four calls and the fault hits the
second one. A scenario without a fault, on a site of its own, is the
reference: after the re-run every faulted site must show the same course as
the reference, keep every backup intact, and no backed-up user may lose access
when the source then drops everybody.

All scenarios run in ONE ansible-playbook run, the re-runs in a second one.
"""

import time

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import CLAIM_SECONDS
from tests.integration.evidence import (backup_files, backup_problems, control_task, course_view, load_json,
                                        module_task, run_play, tree_snapshot, users_without_access)
from tests.simulator import Simulator

TOKEN = 'faults-token-6d0f3a9b27c1'
APPLY = 'local_keepaccess_apply_manual_enrolments'
COURSE = 'MIX301'
END = '%d-06-30' % (time.gmtime().tm_year + 1)
COURSE_ID = 4                         # MIX301's id in the demo fixture
DELETED_USER = 'student0024'          # a database student of MIX301 in the demo fixture
BATCH_SIZE = 3


class Scenario:
    """One fault: how it is made, what the faulted run must report, what the admin does before re-running."""

    def __init__(self, name, fault=None, between=None, connection=None, before_rerun=None):
        self.name, self.fault, self.between = name, fault, between
        self.connection_extra, self.before_rerun = connection or {}, before_rerun
        self.sim = self.backup_dir = None
        self.after_fault = None

    def start(self, root):
        self.sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
        assert self.sim.course_enrolments(COURSE_ID)['course']['shortname'] == COURSE
        self.backup_dir = '%s/%s/backups' % (root, self.name)
        if self.fault:
            self.sim.fault(**self.fault)

    @property
    def connection(self):
        options = {'moodle_url': self.sim.url, 'moodle_token': TOKEN, 'batch_size': BATCH_SIZE}
        options.update(self.connection_extra)
        return options

    def chain(self, run):
        """backup, (what happens in between), restore, set end; each step only when the one before succeeded."""
        prefix = '%s_%s' % (self.name, run)
        steps = [module_task(prefix + '_backup', 'moodle_backup_enrolments', self.connection, course=COURSE,
                             backup_dir=self.backup_dir)]
        if run == 'fault' and self.between:
            steps.extend(self.between(self, prefix))
        steps.append(module_task(prefix + '_restore', 'moodle_restore_manual', self.connection, course=COURSE,
                                 backup_dir=self.backup_dir, when=prefix + '_backup is succeeded'))
        steps.append(module_task(prefix + '_end', 'moodle_set_enrol_end', self.connection, course=COURSE, end=END,
                                 when=prefix + '_restore is succeeded'))
        return steps

    def courseid(self):
        return COURSE_ID


def userid_of(sim, username):
    return next(u['id'] for u in sim.dump_state()['tables']['users'] if u['username'] == username)


def delete_course_between(scenario, prefix):
    return [control_task(prefix + '_delete_course', scenario.sim.url, 'delete_course', courseid=scenario.courseid())]


def delete_user_between(scenario, prefix):
    return [control_task(prefix + '_delete_user', scenario.sim.url, 'set_user_flags',
                         userid=userid_of(scenario.sim, DELETED_USER), deleted=1)]


def reissue_token(sim):
    """What the admin does after a token was revoked: issue it again (same value, as a new one would be).

    The revoked run could not release its claim on the course (releasing needs the token): the claim
    must still be there, and the re-run comes after it ran out (CLAIM_SECONDS), as the failed course's
    message tells the admin to do. Before that, the re-run stops with that message (unit-tested).
    """
    assert [lease['courseid'] for lease in sim.leases()] == [COURSE_ID], sim.leases()
    sim.add_token(TOKEN)
    sim.shift_clock(CLAIM_SECONDS + 1)


def wait_for_slow_call(sim):
    """A timed-out call still runs on the server: wait until it was applied, as it would be before a re-run."""
    sim.wait_for_calls(2, function=APPLY, timeout=60)


SCENARIOS = [
    Scenario('clean'),
    Scenario('http500_mid_batch', fault={'kind': 'http500', 'function': APPLY, 'after': 1}),
    Scenario('timeout_mid_batch', fault={'kind': 'slow', 'function': APPLY, 'after': 1, 'seconds': 8},
             connection={'timeout': 3}, before_rerun=wait_for_slow_call),
    Scenario('dropped_after_apply', fault={'kind': 'drop_after', 'function': APPLY, 'after': 1}),
    Scenario('token_revoked_mid_run', fault={'kind': 'revoke_token', 'function': APPLY, 'after': 1},
             before_rerun=reissue_token),
    Scenario('course_deleted_before_restore', between=delete_course_between),
    Scenario('user_deleted_before_restore', between=delete_user_between),
]
BY_NAME = dict((s.name, s) for s in SCENARIOS)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('faults'))
    for scenario in SCENARIOS:
        scenario.start(root)
    manual_at_start = manual_users(BY_NAME['clean'].sim)
    try:
        fault_run = run_play([t for s in SCENARIOS for t in s.chain('fault')], workdir=root + '/fault-run')
        for scenario in SCENARIOS:
            if scenario.before_rerun:
                scenario.before_rerun(scenario.sim)
            scenario.after_fault = {'backups': tree_snapshot(scenario.backup_dir),
                                    'backup': first_backup_rows(scenario.backup_dir),
                                    'manual_users': manual_users(scenario.sim)}
        rerun = run_play([t for s in SCENARIOS for t in s.chain('rerun')], workdir=root + '/rerun')
        yield {'fault': fault_run, 'rerun': rerun, 'reference': course_view(BY_NAME['clean'].sim, COURSE_ID),
               'manual_at_start': manual_at_start, 'manual_in_reference': manual_users(BY_NAME['clean'].sim)}
    finally:
        for scenario in SCENARIOS:
            scenario.sim.stop()


def manual_users(sim):
    """Usernames holding a manual enrolment in the course (none when it is gone)."""
    try:
        view = course_view(sim, COURSE_ID)
    except ValueError:
        return []
    return sorted(u for u, v in view.items() if any(e[0] == 'manual' for e in v['enrolments']))


def first_backup_rows(backup_dir):
    files = backup_files(backup_dir)
    return load_json(files[0])['enrolments'] if files else []


def users_who_had_access(rows, excluded=()):
    """Usernames with an active backed-up row: they had access through the source."""
    return sorted(set(r['username'] for r in rows if r['status'] == 0 and r['username'] not in excluded))


def lost_after_source_drops(scenario, excluded=()):
    """Backed-up users without access once the source dropped every database and cohort user."""
    sim = scenario.sim
    for method in ('database', 'cohort'):
        sim.drop_from_source(scenario.courseid(), method)
    had_access = users_who_had_access(scenario.after_fault['backup'], excluded)
    return users_without_access(sim, scenario.courseid(), had_access, time.time())


def outcome(runs, scenario, run, step):
    return runs[run]['%s_%s_%s' % (scenario.name, run, step)]


def test_clean_run_succeeds(runs):
    clean = BY_NAME['clean']
    for step in ('backup', 'restore', 'end'):
        assert not outcome(runs, clean, 'fault', step).get('failed'), outcome(runs, clean, 'fault', step)
    assert outcome(runs, clean, 'rerun', 'restore')['changed'] is False
    assert outcome(runs, clean, 'rerun', 'end')['changed'] is False


FAILED_STEP_MENTIONS = {
    'http500_mid_batch': ('restore', ['500', COURSE]),
    'timeout_mid_batch': ('restore', ['time', COURSE]),
    'token_revoked_mid_run': ('restore', ['token', COURSE]),
    'course_deleted_before_restore': ('restore', ['not found', COURSE]),
}


@pytest.mark.parametrize('name', sorted(FAILED_STEP_MENTIONS))
def test_faulted_run_fails_the_course_with_a_clear_message(runs, name):
    step, mentions = FAILED_STEP_MENTIONS[name]
    result = outcome(runs, BY_NAME[name], 'fault', step)
    assert result.get('failed'), 'the %s step did not fail: %s' % (step, result)
    message = result.get('msg', '')
    assert all(m.lower() in message.lower() for m in mentions), message
    assert TOKEN not in str(result)


@pytest.mark.parametrize('name', ['http500_mid_batch', 'timeout_mid_batch', 'token_revoked_mid_run'])
def test_fault_hit_the_middle_of_the_restore(runs, name):
    """Batch 1 (3 users) was applied, later batches were not: the re-run starts from a half-restored course."""
    before = set(runs['manual_at_start'])
    half = set(BY_NAME[name].after_fault['manual_users']) - before
    assert 0 < len(half) < len(set(runs['manual_in_reference']) - before), sorted(half)


def test_deleted_user_is_skipped_and_reported(runs):
    result = outcome(runs, BY_NAME['user_deleted_before_restore'], 'fault', 'restore')
    assert not result.get('failed'), result.get('msg')
    assert [(s['username'], s['reason']) for s in result['skipped_users']] == [(DELETED_USER, 'deleted')]


CONVERGING = ['http500_mid_batch', 'timeout_mid_batch', 'dropped_after_apply', 'token_revoked_mid_run',
              'user_deleted_before_restore']


@pytest.mark.parametrize('name', CONVERGING)
def test_rerun_converges_keeps_backups_and_nobody_loses_access(runs, evidence, name):
    scenario = BY_NAME[name]
    failures = [outcome(runs, scenario, 'rerun', s).get('msg') for s in ('backup', 'restore', 'end')
                if outcome(runs, scenario, 'rerun', s).get('failed')]
    excluded = [DELETED_USER] if name == 'user_deleted_before_restore' else []
    view, reference = course_view(scenario.sim, COURSE_ID), dict(runs['reference'])
    if excluded:
        deleted = view.pop(DELETED_USER)
        reference.pop(DELETED_USER)
        assert all(e[0] != 'manual' for e in deleted['enrolments']), 'a deleted user got a manual enrolment'
    problems = backup_problems(scenario.backup_dir, before=scenario.after_fault['backups'])
    converged = not failures and view == reference and not scenario.sim.messages() and not problems
    lost = lost_after_source_drops(scenario, excluded)
    evidence.fault(name, converged=converged, users_lost=len(lost))
    assert not failures, failures
    assert view == reference, 'the re-run left MIX301 different from a clean run'
    assert scenario.sim.messages() == [], 'welcome messages were sent'
    assert not problems, problems
    assert backup_files(scenario.backup_dir), 'no backup kept'
    assert lost == [], 'users without access after the source dropped them: %s' % lost


def test_course_deleted_before_restore_keeps_the_backup_and_fails_clearly_again(runs, evidence):
    scenario = BY_NAME['course_deleted_before_restore']
    rerun = outcome(runs, scenario, 'rerun', 'backup')
    problems = backup_problems(scenario.backup_dir, before=scenario.after_fault['backups'])
    clear = rerun.get('failed') and COURSE in rerun.get('msg', '') and 'not found' in rerun.get('msg', '')
    evidence.fault('course_deleted_before_restore', converged=bool(clear) and not problems, users_lost=0)
    assert clear, rerun
    assert outcome(runs, scenario, 'rerun', 'restore').get('skipped')        # the task was skipped
    assert len(backup_files(scenario.backup_dir)) == 1 and not problems, problems


def test_clean_reference_loses_nobody_when_the_source_drops_everyone(runs, evidence):
    clean = BY_NAME['clean']
    lost = lost_after_source_drops(clean)
    evidence.fault('clean_reference', converged=True, users_lost=len(lost))
    assert lost == []
