# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the role registers per course: counts and the users that need a look, not every user.

ansible-playbook keeps every course's registered results for the whole run and
copies its memory for each task of each course, so the role leaves out the
lists of every user read or changed unless keep_access_user_lists asks for
them. The run report counts the same either way.
"""

import json
import os

import pytest

from tests.demo import runner
from tests.simulator import Simulator

TOKEN = 'results-token-7e1f04'
CALLBACKS = os.path.join(runner.REPO_ROOT, 'tests', 'live', 'callback_plugins')
RESTORE_TASK = 'Restore them as manual enrolments'
BACKUP_TASK = 'Back up the automatic enrolments'
END_TASK = 'Set the end date of the manual enrolments'


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """The same first run of the `demo` site twice, on two fresh simulators: default, and with the lists."""
    found = {}
    for name, args in (('default', ()), ('lists', ('-e', 'keep_access_user_lists=true'))):
        tmp = tmp_path_factory.mktemp(name)
        sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
        try:
            inventory = str(tmp / 'inventory')
            runner.write_site(inventory, sim.url, 'site', TOKEN, {
                'keep_access_end': '2099-03-31', 'keep_access_backup_dir': str(tmp / 'backups'),
                'keep_access_report_dir': str(tmp / 'reports')})
            results_file = str(tmp / 'results.json')
            code, output = runner.run_playbook(inventory, *args, env={
                'ANSIBLE_CALLBACK_PLUGINS': CALLBACKS, 'ANSIBLE_CALLBACKS_ENABLED': 'live_results',
                'LIVE_RESULTS_FILE': results_file})
        finally:
            sim.stop()
        with open(results_file) as handle:
            tasks = json.load(handle)
        found[name] = {'code': code, 'output': output, 'tasks': tasks,
                       'report': runner.load_report(str(tmp / 'reports'))}
    return found


def step(run, task_name, course):
    hosts = [hosts for name, hosts in run['tasks'].items() if name.split(' : ')[-1] == task_name]
    assert len(hosts) == 1, (task_name, sorted(run['tasks']))
    return hosts[0][course]


def test_by_default_the_registered_results_hold_counts_not_every_user(runs):
    run = runs['default']
    assert run['code'] == 2, run['output'][-3000:]            # NOM401 fails alone, as always
    backup, restore, end = (step(run, task, 'DB101') for task in (BACKUP_TASK, RESTORE_TASK, END_TASK))
    assert 'users' not in backup and sum(c['active'] + c['suspended'] for c in backup['counts'].values()) > 0
    assert not {'created', 'updated', 'unchanged', 'end_dates_set'} & set(restore)
    assert restore['counts']['created'] + restore['counts']['updated'] == 13
    assert 'skipped_users' in restore and 'kept_suspended' in restore
    assert 'changed_users' not in end and 'selected' in end['counts']


def test_keep_access_user_lists_true_keeps_every_users_list(runs):
    restore = step(runs['lists'], RESTORE_TASK, 'DB101')
    assert len(restore['created']) + len(restore['updated']) == 13
    assert len(restore['created']) == restore['counts']['created']
    assert len(restore['end_dates_set']) == restore['counts']['end_dates_set'] > 0
    assert 'users' in step(runs['lists'], BACKUP_TASK, 'DB101')
    assert 'changed_users' in step(runs['lists'], END_TASK, 'DB101')


def test_the_run_report_is_the_same_with_or_without_the_lists(runs):
    def courses(run):
        return dict((c['course'], dict((k, v) for k, v in c.items() if k not in ('backup_file', 'site')))
                    for c in run['report']['courses'])
    assert courses(runs['default']) == courses(runs['lists'])
    assert courses(runs['default'])['DB101']['converted'] == 13
    assert runs['default']['report']['totals'] == runs['lists']['report']['totals']
