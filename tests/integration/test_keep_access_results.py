# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the role registers per course: counts and the users that need a look, not every user.

ansible-playbook keeps every course's registered results for the whole run and
copies its memory for each task of each course, so the role leaves out the
lists of every user read or changed unless keep_access_user_lists asks for
them. The run report counts the same either way.
"""

import pytest

from tests.demo import runner
from tests.simulator import Simulator

TOKEN = 'results-token-7e1f04'
RESTORE_TASK = 'Restore them as manual enrolments'
BACKUP_TASK = 'Back up the automatic enrolments'
END_TASK = 'Set the end date of the manual enrolments'


LISTS_COURSE = 'COH201'       # the one course of the demo site that asks for the lists (a host variable)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """The first run of the `demo` site, COH201 with keep_access_user_lists: true, the others by default."""
    tmp = tmp_path_factory.mktemp('results')
    sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    try:
        inventory = str(tmp / 'inventory')
        runner.write_site(inventory, sim.url, 'site', TOKEN, {
            'keep_access_end': '2099-03-31', 'keep_access_backup_dir': str(tmp / 'backups'),
            'keep_access_report_dir': str(tmp / 'reports')})
        runner.write_host_vars(inventory, LISTS_COURSE, {'keep_access_user_lists': True})
        results_file = str(tmp / 'results.json')
        code, output = runner.run_playbook(inventory, env=runner.results_callback_env(results_file))
    finally:
        sim.stop()
    tasks = runner.load_json(results_file)
    report = runner.load_report(str(tmp / 'reports'))
    return {'code': code, 'output': output, 'tasks': tasks,
            'report': dict((c['course'], c) for c in report['courses'])}


def step(run, task_name, course):
    return runner.task_results(run['tasks'], task_name)[course]


def test_by_default_the_registered_results_hold_counts_not_every_user(run):
    assert run['code'] == 2, run['output'][-3000:]            # NOM401 fails alone, as always
    backup, restore, end = (step(run, task, 'DB101') for task in (BACKUP_TASK, RESTORE_TASK, END_TASK))
    assert 'users' not in backup and sum(c['active'] + c['suspended'] for c in backup['counts'].values()) > 0
    assert not {'created', 'updated', 'unchanged', 'end_dates_set'} & set(restore)
    assert restore['counts']['created'] + restore['counts']['updated'] == 13
    assert 'skipped_users' in restore and 'kept_suspended' in restore
    assert 'changed_users' not in end and 'selected' in end['counts']


def test_keep_access_user_lists_true_keeps_every_users_list(run):
    restore = step(run, RESTORE_TASK, LISTS_COURSE)
    assert len(restore['created']) == restore['counts']['created'] > 0
    assert len(restore['updated']) == restore['counts']['updated']
    assert len(restore['end_dates_set']) == restore['counts']['end_dates_set'] > 0
    assert 'users' in step(run, BACKUP_TASK, LISTS_COURSE)
    assert 'changed_users' in step(run, END_TASK, LISTS_COURSE)


def test_the_run_report_counts_the_same_with_or_without_the_lists(run):
    report = run['report']
    assert report['DB101']['converted'] == 13
    for course in ('DB101', LISTS_COURSE):
        restore, end = step(run, RESTORE_TASK, course), step(run, END_TASK, course)
        assert report[course]['converted'] == restore['counts']['created'] + restore['counts']['updated'], course
        assert report[course]['end_dates_set'] == restore['counts']['end_dates_set'] + end['counts']['changed']
    lists = step(run, RESTORE_TASK, LISTS_COURSE)
    assert report[LISTS_COURSE]['converted'] == len(lists['created']) + len(lists['updated'])
