# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ansible-playbook playbooks/keep_access.yml`` killed with SIGKILL in the middle of a restore.

Two simulated sites of the demo fixture in one inventory (cemu.moodle.courses):
``killed`` gets a slow call in the middle of a batched restore and the whole
ansible-playbook process group is killed while Moodle is still working on it;
``clean`` is left alone. Then ONE plain run over both sites is the re-run of
``killed`` and the clean run of ``clean``: the two sites must end the same,
the backups of ``killed`` must be whole, and nobody may lose access when the
source drops every user.
"""

import os
import signal
import subprocess
import time

import pytest

from tests.demo import runner
from tests.integration.evidence import (backup_files, backup_problems, course_view, files_containing, load_json,
                                        tree_snapshot, users_without_access)
from tests.simulator import Simulator

TOKEN = 'sigkill-token-0a4c8e1f55d3'
APPLY = 'local_keepaccess_apply_manual_enrolments'
SLOW_SECONDS = 3
END = '%d-06-30' % (time.gmtime().tm_year + 1)
CONVERTED_COURSES = ('DB101', 'COH201', 'MIX301')       # NOM401 has no manual instance: it fails on both sites


def write_inventory(root, sites):
    inventory = os.path.join(root, 'inventory')
    for group, sim in sites.items():
        runner.write_site(inventory, sim.url, group, TOKEN, {
            'keep_access_end': END, 'moodle_batch_size': 3,
            'keep_access_backup_dir': os.path.join(root, group, 'backups'),
            'keep_access_report_dir': os.path.join(root, group, 'reports'),
        }, host_prefix=group + '_')
    return inventory


def run_and_kill_mid_restore(inventory, sim, log_path):
    """Start the playbook on site ``killed``; SIGKILL its process group while the slow batch is on the server."""
    sim.fault('slow', function=APPLY, after=1, seconds=SLOW_SECONDS)
    with open(log_path, 'w') as log:
        process = subprocess.Popen(runner.playbook_command(inventory, '--limit', 'killed'), stdout=log,
                                   stderr=subprocess.STDOUT, env=runner.ansible_env(), cwd=runner.REPO_ROOT,
                                   start_new_session=True)
    try:
        deadline = time.time() + 240
        while sim.faults and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert not sim.faults and process.poll() is None, 'the playbook never reached the slow batch'
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.wait(10)
    assert sim.wait_until_idle(timeout=60), 'Moodle never finished the request it was working on'
    return process.returncode


def courseid(sim, shortname):
    return next(c['id'] for c in sim.dump_state()['tables']['courses'] if c['shortname'] == shortname)


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('sigkill'))
    sites = dict((name, Simulator(version='4.5', fixture='demo', token=TOKEN).start()) for name in ('killed', 'clean'))
    try:
        inventory = write_inventory(root, sites)
        backups = os.path.join(root, 'killed', 'backups')
        killed_code = run_and_kill_mid_restore(inventory, sites['killed'], os.path.join(root, 'killed.log'))
        after_kill = {'code': killed_code, 'backups': tree_snapshot(backups), 'problems': backup_problems(backups),
                      'views': views(sites['killed'])}
        start_views = views(sites['clean'])
        code, output = runner.run_playbook(inventory, timeout=600)
        yield {'sites': sites, 'root': root, 'backups': backups, 'after_kill': after_kill, 'start_views': start_views,
               'rerun': {'code': code, 'output': output, 'recap': runner.recap(output)}}
    finally:
        for sim in sites.values():
            sim.stop()


def views(sim):
    return dict((c, course_view(sim, courseid(sim, c))) for c in CONVERTED_COURSES)


def test_the_kill_happened_in_the_middle_of_the_run(world):
    """Killed by the signal, after Moodle was changed and before the run was done."""
    after_kill = world['after_kill']
    assert after_kill['code'] == -signal.SIGKILL
    assert after_kill['views'] != world['start_views'], 'nothing was written before the kill'
    assert after_kill['views'] != views(world['sites']['clean']), 'the run had finished before the kill'


def test_backups_left_by_the_kill_are_whole_and_private(world):
    assert world['after_kill']['problems'] == []


def test_plain_rerun_converges_to_the_clean_run(world, evidence):
    sites, recap = world['sites'], world['rerun']['recap']
    differing = [c for c in CONVERTED_COURSES
                 if course_view(sites['killed'], courseid(sites['killed'], c))
                 != course_view(sites['clean'], courseid(sites['clean'], c))]
    failed = sorted(h for h, counts in recap.items() if counts.get('failed') and not h.endswith('NOM401'))
    problems = backup_problems(world['backups'], before=world['after_kill']['backups'])
    lost = lost_when_the_source_drops_everyone(sites['killed'], world['backups'])
    evidence.fault('ansible_playbook_sigkill', converged=not (differing or failed or problems), users_lost=len(lost))
    assert not failed, world['rerun']['output'][-3000:]
    assert differing == [], 'courses that differ from the clean run: %s' % differing
    assert problems == []
    assert sites['killed'].messages() == []
    assert lost == [], lost


def lost_when_the_source_drops_everyone(sim, backup_dir):
    """Usernames (course: user) with an active row in a course's first backup and no access after the drop."""
    lost = []
    for shortname in CONVERTED_COURSES:
        course = courseid(sim, shortname)
        files = [f for f in backup_files(backup_dir) if os.sep + 'course-%d' % course + os.sep in f]
        rows = load_json(files[0])['enrolments'] if files else []
        had_access = sorted(set(r['username'] for r in rows if r['status'] == 0))
        for method in ('database', 'cohort'):
            sim.drop_from_source(course, method)
        lost.extend('%s: %s' % (shortname, u) for u in users_without_access(sim, course, had_access, time.time()))
    return lost


def test_token_is_in_no_file_the_runs_left(world):
    for group in ('killed', 'clean'):
        assert files_containing(os.path.join(world['root'], group), TOKEN) == []
