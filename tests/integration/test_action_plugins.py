# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins through real ansible-playbook: in the worker on the controller, the module elsewhere.

One ansible-playbook run (``-vvv``, so that every module process shows as
"Using module file ...") over a small inventory: localhost, a course host with
a local connection, a host behind a connection that is not local (a test
connection plugin that runs commands here under another name, as ssh would on
another machine) and a host behind ssh to a closed port. Every task that runs
in the worker is paired with the same task forced through the module
(``cemu_moodle_in_process: false``); their registered results must be equal.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile

import pytest
import yaml

from tests.integration.module_runner import _environment
from tests.integration.test_modules import build_course
from tests.simulator import Simulator

TOKEN = 'action-plugins-token-77c1d0'
CLOSED_URL = 'http://127.0.0.1:9'      # the discard port: nothing listens, a request fails at once
END = '2099-06-30'
MODULE_FILE = 'Using module file '
REMOTE_CONNECTION = '''
DOCUMENTATION = """
    name: cemu_test_remote
    short_description: the local connection under another name (tests only)
    description:
        - Runs commands on this machine like ansible.builtin.local, but is not local to cemu.moodle's
          action plugins, which therefore run the module through it as on a remote host.
    author: cemu.moodle contributors (@cemu-moodle)
    options:
        become_success_timeout:
            type: int
            default: 10
            description: As for ansible.builtin.local.
        become_strip_preamble:
            type: bool
            default: true
            description: As for ansible.builtin.local.
    extends_documentation_fragment:
        - connection_pipelining
"""

from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):
    transport = 'cemu_test_remote'
'''

# name -> (module, options, task keywords); each is run in the worker and through the module
PAIRS = {
    'backup again': ('moodle_backup_enrolments', {'backup_dir': '{{ backups }}'}, {}),
    'backup check': ('moodle_backup_enrolments', {'backup_dir': '{{ backups }}', 'methods': ['database', 'ldap']},
                     {'check_mode': True, 'diff': True}),
    'restore check': ('moodle_restore_manual', {'backup_dir': '{{ backups }}'}, {'check_mode': True, 'diff': True}),
    'restore again': ('moodle_restore_manual', {'backup_dir': '{{ backups }}'}, {'diff': True}),
    'end check': ('moodle_set_enrol_end', {'end': END, 'policy': 'extend'}, {'check_mode': True, 'diff': True}),
    'end again': ('moodle_set_enrol_end', {'end': END}, {'diff': True}),
    'unknown course': ('moodle_set_enrol_end', {'end': END, 'course': 'NOPE'}, {}),
    'unknown option': ('moodle_restore_manual', {'backup_dir': '{{ backups }}', 'bogus': 1}, {}),
    'bad choice': ('moodle_set_enrol_end', {'end': END, 'status': 'gone'}, {}),
    'bad end': ('moodle_set_enrol_end', {'end': 'next summer'}, {}),
}


def closed_port():
    """A socket bound to a loopback port, not listening: connecting is refused and nobody else gets the port."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    return sock


def task(name, module, options, keywords=None, register=None):
    entry = {'name': name, 'cemu.moodle.' + module: options, 'register': register or name.replace(' ', '_'),
             'ignore_errors': True}
    entry.update(keywords or {})
    return entry


def paired_tasks():
    tasks = []
    for name, (module, options, keywords) in PAIRS.items():
        tasks.append(task('worker ' + name, module, options, keywords))
        tasks.append(task('module ' + name, module, options, dict(keywords, vars={'cemu_moodle_in_process': False})))
    return tasks


def registered_names():
    names = ['worker_first_backup', 'worker_first_restore', 'worker_first_end', 'worker_environment',
             'host_end_check', 'ssh_end_check', 'delegated_end_check', 'variables_end_check',
             'given_option_end_check', 'variables_over_environment_end_check']
    return names + [prefix + name.replace(' ', '_') for name in PAIRS for prefix in ('worker_', 'module_')]


def playbook(sim, backups, results):
    connection = {'moodle_url': sim.url, 'moodle_token': TOKEN}
    defaults = {'module_defaults': {'group/cemu.moodle.moodle': dict(connection, course='KA1')}}
    first_run = [task('worker first backup', 'moodle_backup_enrolments', {'backup_dir': '{{ backups }}'}),
                 task('worker first restore', 'moodle_restore_manual', {'backup_dir': '{{ backups }}'}),
                 task('worker first end', 'moodle_set_enrol_end', {'end': END})]
    end_check = {'end': END, 'course': 'KA1'}
    return [
        dict(hosts='localhost', gather_facts=False, vars={'backups': backups}, tasks=first_run + paired_tasks(),
             **defaults),
        dict(hosts='localhost', gather_facts=False, tasks=[
            task('worker environment', 'moodle_set_enrol_end', end_check,
                 {'check_mode': True, 'environment': {'MOODLE_URL': sim.url}})]),
        dict(hosts='course_local:remote_course', gather_facts=False, tasks=[
            task('host end check', 'moodle_set_enrol_end', dict(connection, **end_check), {'check_mode': True})]),
        # no URL in the task, module_defaults or environment: the host's variables moodle_url, moodle_token
        dict(hosts='course_variables:remote_variables', gather_facts=False, tasks=[
            task('variables end check', 'moodle_set_enrol_end', end_check, {'check_mode': True}),
            task('given option end check', 'moodle_set_enrol_end', dict(end_check, moodle_url=sim.url),
                 {'check_mode': True, 'vars': {'moodle_url': CLOSED_URL}}),
            task('variables over environment end check', 'moodle_set_enrol_end', end_check,
                 {'check_mode': True, 'environment': {'MOODLE_URL': CLOSED_URL}})]),
        dict(hosts='ssh_course', gather_facts=False, ignore_unreachable=True, tasks=[
            task('ssh end check', 'moodle_set_enrol_end', dict(connection, **end_check), {'check_mode': True}),
            task('delegated end check', 'moodle_set_enrol_end', dict(connection, **end_check),
                 {'check_mode': True, 'delegate_to': 'localhost'})]),
        dict(hosts='localhost', gather_facts=False, vars={'registered': registered_names()}, tasks=[{
            'name': 'results', 'check_mode': False, 'diff': False, 'ansible.builtin.copy': {
                'dest': results, 'mode': '0600',
                'content': "{{ dict(groups.all | zip(groups.all | map('extract', hostvars) | map('dict2items') "
                           "| map('selectattr', 'key', 'in', registered) | map('items2dict'))) | to_json }}"}}]),
    ]


def inventory(port, sim):
    python = sys.executable
    variables = {'moodle_url': sim.url, 'moodle_token': TOKEN}
    return {'all': {'vars': {'ansible_python_interpreter': python}, 'hosts': {
        'localhost': {'ansible_connection': 'local'},
        'course_local': {'ansible_connection': 'local'},
        'remote_course': {'ansible_connection': 'cemu_test_remote'},
        'course_variables': dict(variables, ansible_connection='local'),
        'remote_variables': dict(variables, ansible_connection='cemu_test_remote'),
        'ssh_course': {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': port,
                       'ansible_ssh_timeout': 10},
    }}}


def sections(output):
    """{task name: its -vvv output}."""
    found = {}
    name = None
    for line in output.splitlines():
        if line.startswith('TASK ['):
            name = line[len('TASK ['):line.index(']')]
            found[name] = []
        elif name:
            found[name].append(line)
    return dict((k, '\n'.join(v)) for k, v in found.items())


@pytest.fixture(scope='module')
def played():
    sim = Simulator(version='4.5', fixture='empty', token=TOKEN).start()
    workdir = tempfile.mkdtemp(prefix='cemu-moodle-actions-')
    ssh_port = closed_port()
    try:
        build_course(sim, 'KA1')
        os.makedirs(os.path.join(workdir, 'connection_plugins'))
        with open(os.path.join(workdir, 'connection_plugins', 'cemu_test_remote.py'), 'w') as handle:
            handle.write(REMOTE_CONNECTION)
        results = os.path.join(workdir, 'results.json')
        with open(os.path.join(workdir, 'play.yml'), 'w') as handle:
            yaml.safe_dump(playbook(sim, os.path.join(workdir, 'backups'), results), handle, sort_keys=False)
        with open(os.path.join(workdir, 'inventory.yml'), 'w') as handle:
            yaml.safe_dump(inventory(ssh_port.getsockname()[1], sim), handle)
        env = dict(_environment(workdir), MOODLE_TOKEN=TOKEN)
        completed = subprocess.run(
            [sys.executable, '-m', 'ansible.cli.playbook', '-vvv', '-i', 'inventory.yml', 'play.yml'],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
            timeout=600, check=False)
        if not os.path.exists(results):
            raise AssertionError('no results (rc %d):\n%s' % (completed.returncode, completed.stdout[-5000:]))
        with open(results) as handle:
            hosts = json.load(handle)
        yield {'hosts': hosts, 'localhost': hosts['localhost'], 'output': sections(completed.stdout)}
    finally:
        ssh_port.close()
        sim.stop()


def ran_module_process(played, name):
    return MODULE_FILE in played['output'][name]


def test_on_the_controller_the_work_happens_in_the_worker(played):
    for name in ['worker first backup', 'worker first restore', 'worker first end', 'worker environment',
                 'delegated end check'] + ['worker ' + name for name in PAIRS]:
        assert not ran_module_process(played, name), name
    assert played['localhost']['worker_first_restore']['changed'] is True
    assert played['localhost']['worker_first_end']['changed'] is True


def test_forced_through_the_module_the_module_process_runs(played):
    for name in PAIRS:
        assert ran_module_process(played, 'module ' + name), name


@pytest.mark.parametrize('name', sorted(PAIRS))
def test_results_equal_the_modules(played, name):
    worker = played['localhost']['worker_' + name.replace(' ', '_')]
    module = played['localhost']['module_' + name.replace(' ', '_')]
    if name == 'backup check':       # a backup's file name is the time it was made (also in its diff line)
        assert os.path.dirname(worker.pop('backup_file')) == os.path.dirname(module.pop('backup_file'))
        for result in (worker, module):
            result['diff']['prepared'] = re.sub(r'enrolments-\S+\.json', 'enrolments-TIME.json',
                                                result['diff']['prepared'])
    # ansible-core < 2.19 adds the module's traceback at -vvv: its stack, which the worker's cannot equal
    worker.pop('exception', None)
    module.pop('exception', None)
    assert worker == module


def test_the_pairs_cover_success_check_mode_diff_warnings_and_failures(played):
    results = dict((name, played['localhost']['worker_' + name.replace(' ', '_')]) for name in PAIRS)
    assert results['restore check']['created'] == [] and 'diff' in results['restore check']
    assert results['end check']['changed'] is False and results['end again']['changed'] is False
    # a method the course lacks is a result, not a warning (warnings: tests/unit/test_in_process.py)
    assert results['backup check']['missing_methods'] == ['ldap'] and not results['backup check'].get('warnings')
    assert results['restore check']['diff'] == {'prepared': ''}      # nothing to change: no line
    assert results['backup check']['diff']['prepared'].startswith("backup of course 'KA1' (id 2): ")
    assert results['unknown course']['msg'] == "course 'NOPE' not found (looked up by shortname, idnumber)"
    assert results['unknown option']['msg'].startswith(
        'Unsupported parameters for (cemu.moodle.moodle_restore_manual) module: bogus.')
    assert results['bad choice']['msg'] == 'value of status must be one of: active, suspended, any, got: gone'
    assert "next summer" in results['bad end']['msg']
    assert TOKEN not in json.dumps(results)


def test_module_defaults_of_the_group_reach_the_actions(played):
    """The first run's tasks name no URL, token or course: module_defaults group/cemu.moodle.moodle gave them."""
    first = played['localhost']['worker_first_backup']
    assert first['changed'] is True and first['course']['shortname'] == 'KA1'


def test_env_fallbacks_read_the_controller_and_the_tasks_environment(played):
    """MOODLE_TOKEN from ansible-playbook's environment, MOODLE_URL from the task's environment:."""
    result = played['localhost']['worker_environment']
    assert not result.get('failed'), result.get('msg')
    # the students Participants' "Status: Active" selects after the first run (s07 is active through the
    # database, so its suspended manual enrolment is dated too, as Moodle's step 3 does)
    assert result['counts']['selected'] == 8
    assert result == played['hosts']['course_local']['host_end_check']      # same task, options given


def test_a_local_connection_runs_in_the_worker_whatever_the_host(played):
    result = played['hosts']['course_local']['host_end_check']
    assert not result.get('failed'), result.get('msg')
    assert played['output']['host end check'].count(MODULE_FILE) == 1     # remote_course's, not course_local's


def test_a_host_that_is_not_the_controller_runs_the_module_there(played):
    remote = played['hosts']['remote_course']['host_end_check']
    assert remote == played['hosts']['course_local']['host_end_check']
    assert 'cemu_moodle/plugins/modules/moodle_set_enrol_end.py' in played['output']['host end check'].replace(
        'cemu/moodle', 'cemu_moodle')


def test_over_ssh_the_module_goes_to_the_host_and_delegating_to_localhost_works(played):
    ssh = played['hosts']['ssh_course']['ssh_end_check']
    assert ssh['unreachable'] is True, ssh
    assert 'Connection refused' in ssh['msg'], ssh
    delegated = played['hosts']['ssh_course']['delegated_end_check']
    assert not delegated.get('failed') and not delegated.get('unreachable'), delegated
    assert delegated == played['hosts']['course_local']['host_end_check']


def test_the_hosts_variables_give_the_connection_when_the_task_does_not(played):
    """moodle_url from the host's variables (nothing else sets it), in the worker and in a module process."""
    expected = played['hosts']['course_local']['host_end_check']
    for host in ('course_variables', 'remote_variables'):
        result = played['hosts'][host]['variables_end_check']
        assert not result.get('failed'), (host, result.get('msg'))
        assert result == expected, host
    assert TOKEN not in played['output']['variables end check']


def test_an_option_of_the_task_wins_over_the_hosts_variable_and_the_variable_over_the_environment(played):
    """A host variable moodle_url naming a closed port loses to the task's option; MOODLE_URL naming one
    loses to the host's variable."""
    expected = played['hosts']['course_local']['host_end_check']
    for host in ('course_variables', 'remote_variables'):
        for name in ('given_option_end_check', 'variables_over_environment_end_check'):
            result = played['hosts'][host][name]
            assert not result.get('failed'), (host, name, result.get('msg'))
            assert result == expected, (host, name)
