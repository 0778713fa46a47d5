# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's modules through real ``ansible-playbook`` and hand back every task's result.

Each call writes one playbook (connection local, localhost) whose tasks all
``register`` their result and ignore errors; a last task writes the results to
a JSON file the test reads. Grouping several module runs into one playbook
keeps the integration tests fast (ansible-playbook starts in 1-2 s).
"""

import json
import os
import subprocess
import sys
import tempfile

import yaml

from tests.collection_path import collections_root


class Task:
    """One module run: ``module`` short name (cemu.moodle.<module>), its options, and task keywords."""

    def __init__(self, module, check=False, diff=False, **options):
        self.module = module
        self.options = options
        self.check = check
        self.diff = diff


class PlaybookRun:
    """Results of one ansible-playbook run: ``results[i]`` is the registered result of task i."""

    def __init__(self, results, returncode, output):
        self.results = results
        self.returncode = returncode
        self.output = output

    def __getitem__(self, index):
        return self.results[index]


def connection_options(simulator_url, token):
    return {'moodle_url': simulator_url, 'moodle_token': token}


def run_tasks(tasks, connection, workdir=None, timeout=300):
    """Run ``tasks`` (Task objects) in one playbook; return a PlaybookRun."""
    workdir = workdir or tempfile.mkdtemp(prefix='cemu-moodle-play-')
    results_path = os.path.join(workdir, 'results.json')
    playbook_path = os.path.join(workdir, 'play.yml')
    with open(playbook_path, 'w') as handle:
        yaml.safe_dump([_play(tasks, connection, results_path)], handle, sort_keys=False)
    completed = subprocess.run(
        [sys.executable, '-m', 'ansible.cli.playbook', '-i', 'localhost,', playbook_path],
        env=_environment(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
        universal_newlines=True, check=False)
    if not os.path.exists(results_path):
        raise AssertionError('ansible-playbook wrote no results (rc %d):\n%s'
                             % (completed.returncode, completed.stdout[-4000:]))
    with open(results_path) as handle:
        results = json.load(handle)
    return PlaybookRun([results['task%d' % i] for i in range(len(tasks))], completed.returncode, completed.stdout)


def _play(tasks, connection, results_path):
    play_tasks = [_task(i, task, connection) for i, task in enumerate(tasks)]
    collected = '{%s}' % ', '.join("'task%d': task%d" % (i, i) for i in range(len(tasks)))
    play_tasks.append({'name': 'results', 'ansible.builtin.copy': {
        'content': '{{ %s | to_json }}' % collected, 'dest': results_path, 'mode': '0600'},
        'check_mode': False, 'diff': False})
    return {'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
            'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': play_tasks}


def _task(index, task, connection):
    options = dict(connection)
    options.update(task.options)
    return {'name': 'task%d %s' % (index, task.module), 'cemu.moodle.' + task.module: options,
            'register': 'task%d' % index, 'ignore_errors': True, 'check_mode': task.check, 'diff': task.diff}


def _environment(workdir):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': collections_root(),
        'ANSIBLE_LOCAL_TEMP': os.path.join(workdir, 'tmp'),
        'ANSIBLE_REMOTE_TEMP': os.path.join(workdir, 'tmp'),
        'ANSIBLE_HOME': os.path.join(workdir, 'home'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_PIPELINING': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_HOST_KEY_CHECKING': '0',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
    })
    for name in ('MOODLE_URL', 'MOODLE_TOKEN', 'MOODLE_VALIDATE_CERTS', 'MOODLE_CA_PATH'):
        env.pop(name, None)
    return env
