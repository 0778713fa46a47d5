# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins' in-process run: what AnsibleModule would return, without a module process.

Each case runs a module once through AnsibleModule (``main()``, as a module
process does) and once through ``run_in_process`` (what the action plugins do)
and expects the same result: argument errors, environment fallbacks, no_log
masking, check mode and diff. The action base's choice of where a task runs is
tested on its own.
"""

import json
import os
import re
from types import SimpleNamespace
from unittest import mock

import pytest

from ansible.module_utils.common import warnings as module_warnings
from ansible.release import __version__ as ansible_version

from ansible_collections.cemu.moodle.plugins.module_utils import module_base
from ansible_collections.cemu.moodle.plugins.modules import (
    moodle_backup_enrolments, moodle_restore_manual, moodle_set_enrol_end)
from ansible_collections.cemu.moodle.plugins.plugin_utils import in_process
from ansible_collections.cemu.moodle.plugins.plugin_utils.in_process import MoodleAction, run_in_process
from tests.integration.evidence import write_calls
from tests.simulator import Simulator
from tests.unit.module_args import as_target, patch_module_args

TOKEN = 'in-process-unit-token-5b7e2a'
NO_LOG = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
END = '2099-06-30'
SITE_CLOCK = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d')
# a module process adds invocation.module_args to its result up to ansible-core 2.20; from 2.21 only when
# asked (_ansible_inject_invocation, which ansible-playbook sets from the INJECT_INVOCATION setting):
# the module processes run here ask for it, as the in-worker runs do by default
ASK_FOR_INVOCATION = ({'_ansible_inject_invocation': True}
                      if tuple(int(n) for n in ansible_version.split('.')[:2]) >= (2, 21) else {})


@pytest.fixture(scope='module')
def sim():
    simulator = Simulator(version='4.5', fixture='recorded', token=TOKEN).start()
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def no_moodle_environment(monkeypatch):
    for name in ('MOODLE_URL', 'MOODLE_TOKEN', 'MOODLE_VALIDATE_CERTS', 'MOODLE_CA_PATH'):
        monkeypatch.delenv(name, raising=False)


def module_process(module, args, capsys, check=False, diff=False, environment=None):
    """The result ``module`` prints when run as a module process (AnsibleModule), ``environment`` set.

    A module process starts without warnings: those of earlier runs in this process are set aside.
    """
    internal = {'_ansible_check_mode': check, '_ansible_diff': diff,
                '_ansible_module_name': 'cemu.moodle.' + module.__name__.rsplit('.', 1)[-1]}
    internal.update(ASK_FOR_INVOCATION)
    with patch_module_args(dict(args, **internal)), as_target(), \
            mock.patch.dict(os.environ, environment or {}), \
            mock.patch.object(module_warnings, '_global_warnings', type(module_warnings._global_warnings)()):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def in_worker(module, args, check=False, diff=False, environment=None):
    return run_in_process(module, args, environment or {}, check_mode=check, diff=diff,
                          name='cemu.moodle.' + module.__name__.rsplit('.', 1)[-1])


def connection(sim):
    return {'moodle_url': sim.url, 'moodle_token': TOKEN}


def manual_course(sim, shortname, students=3):
    """A course whose ``students`` users hold active manual student enrolments without an end."""
    course = sim.add_course(shortname)
    manual = sim.add_instance(course, 'manual')
    for number in range(students):
        sim.enrol(manual, sim.add_user('%s-s%d' % (shortname.lower(), number)))
    return course


# --- the same result as AnsibleModule ----------------------------------------------------------

@pytest.mark.parametrize('module, args, expected', [
    (moodle_set_enrol_end, {'course': 'KA1'}, 'missing required arguments: end'),
    (moodle_set_enrol_end, {'course': 'KA1', 'end': END, 'bogus': 1},
     'Unsupported parameters for (cemu.moodle.moodle_set_enrol_end) module: bogus.'),
    (moodle_set_enrol_end, {'course': 'KA1', 'end': END, 'policy': 'shorten'},
     'value of policy must be one of: set, extend, got: shorten'),
    (moodle_backup_enrolments, {'course': 'KA1', 'retention': 'many'}, "argument 'retention' is of type"),
    (moodle_restore_manual, {'course': 'KA1', 'state': 'absent', 'send_welcome': True},
     'state=absent undoes the whole restore record'),
    (moodle_set_enrol_end, {'course': 'KA1', 'end': 'soon'}, "end"),
    (moodle_backup_enrolments, {'course': 'NOPE'}, "course 'NOPE' not found"),
    (moodle_backup_enrolments, {'course': 'KA1', 'batch_size': 0}, 'batch_size must be at least 1, got 0'),
])
def test_bad_input_fails_with_the_modules_message(sim, capsys, module, args, expected):
    args = dict(connection(sim), **args)
    result = in_worker(module, args)
    assert result['failed'] is True
    assert expected in result['msg']
    assert result == module_process(module, args, capsys)


def test_a_check_mode_run_with_diff_gives_the_modules_result_and_writes_nothing(sim, capsys, tmp_path):
    manual_course(sim, 'CHECK1')
    args = dict(connection(sim), course='CHECK1', end=END)
    writes = len(write_calls(sim))
    result = in_worker(moodle_set_enrol_end, args, check=True, diff=True)
    assert len(write_calls(sim)) == writes
    assert result['changed'] is True and result['counts']['changed'] == 3
    assert set(result['user_changes']['before']) == set(u['username'] for u in result['changed_users'])
    assert len(result['diff']['prepared'].splitlines()) == 3     # one line per user
    assert result == module_process(moodle_set_enrol_end, args, capsys, check=True, diff=True)
    assert 'diff' not in in_worker(moodle_set_enrol_end, args, check=True)


def test_warnings_are_returned_like_the_modules(sim, capsys, tmp_path):
    args = dict(connection(sim), course='KA1', methods=['database', 'ldap'], backup_dir=str(tmp_path))
    written = in_worker(moodle_backup_enrolments, args)['backup_file']
    with open(written, 'w') as damaged:
        damaged.write('{not json')       # the newest backup unreadable: a warning a person must act on
    result = in_worker(moodle_backup_enrolments, args, check=True)
    assert len(result['warnings']) == 1 and 'a new backup is written next to it' in result['warnings'][0]
    assert result['missing_methods'] == ['ldap']
    module_result = module_process(moodle_backup_enrolments, args, capsys, check=True)
    # ansible-core 2.19 modules send a structured warning that the controller turns into this text
    assert [w['event']['msg'] if isinstance(w, dict) else w for w in module_result.pop('warnings')] == \
        result.pop('warnings')
    assert dict(result, backup_file=None) == dict(module_result, backup_file=None)   # the file name is a time


def test_the_token_is_removed_from_the_invocation_and_every_message(sim, capsys):
    stub_url = sim.url + '/' + TOKEN + '/'          # a URL that carries the token, to see it masked
    args = {'moodle_url': stub_url, 'moodle_token': TOKEN, 'course': 'KA1', 'end': END}
    result = in_worker(moodle_set_enrol_end, args)
    assert result['failed'] is True
    assert result['invocation']['module_args']['moodle_token'] == NO_LOG
    assert TOKEN not in json.dumps(result)
    assert result == module_process(moodle_set_enrol_end, args, capsys)


# --- environment fallbacks: the environment given, not this process's --------------------------

def test_connection_options_come_from_the_given_environment(sim, capsys, monkeypatch):
    monkeypatch.setenv('MOODLE_URL', 'https://wrong.example.invalid')   # the worker's own: not read
    environment = {'MOODLE_URL': sim.url, 'MOODLE_TOKEN': TOKEN, 'MOODLE_VALIDATE_CERTS': 'false'}
    args = {'course': 'KA1', 'end': END}
    result = in_worker(moodle_set_enrol_end, args, check=True, environment=environment)
    assert not result.get('failed'), result.get('msg')
    assert result['invocation']['module_args']['moodle_url'] == sim.url
    assert result['invocation']['module_args']['validate_certs'] is False
    assert result['invocation']['module_args']['moodle_token'] == NO_LOG
    assert TOKEN not in json.dumps(result)
    assert result == module_process(moodle_set_enrol_end, args, capsys, check=True, environment=environment)


def test_an_option_given_wins_over_the_environment(sim):
    environment = {'MOODLE_URL': 'https://wrong.example.invalid', 'MOODLE_TOKEN': 'x' * 32}
    result = in_worker(moodle_set_enrol_end, dict(connection(sim), course='KA1', end=END), check=True,
                       environment=environment)
    assert not result.get('failed'), result.get('msg')


def test_without_url_or_token_anywhere_the_message_names_both(capsys):
    result = in_worker(moodle_set_enrol_end, {'course': 'KA1', 'end': END})
    assert result['msg'] == 'missing required arguments: moodle_token, moodle_url'
    assert result == module_process(moodle_set_enrol_end, {'course': 'KA1', 'end': END}, capsys)


def test_arguments_arrive_as_a_module_process_gets_them(sim, capsys):
    """A YAML date (datetime.date) for end arrives as text, as through the module's JSON arguments."""
    import datetime
    args = dict(connection(sim), course='KA1', end=datetime.date(2099, 6, 30))
    result = in_worker(moodle_set_enrol_end, args, check=True)
    assert result['end_iso'] == '2099-06-30T23:59:59+01:00'
    assert result['invocation']['module_args']['end'] == '2099-06-30'


# --- where the action runs the module ------------------------------------------------------------

def action(transport='local', become=False, async_val=0, args=None):
    """A MoodleAction with just the task, connection and play context its choice reads."""
    plugin = MoodleAction.__new__(MoodleAction)
    plugin._connection = SimpleNamespace(transport=transport)
    plugin._play_context = SimpleNamespace(become=become)
    plugin._task = SimpleNamespace(async_val=async_val, args=args or {})
    return plugin


def test_a_task_on_the_controller_runs_in_the_worker():
    assert action().reason_for_module_process({}) is None


@pytest.mark.parametrize('plugin, variables, reason', [
    (action(transport='ssh'), {}, 'connection ssh'),
    (action(become=True), {}, 'become'),
    (action(async_val=60), {}, 'async'),
    (action(), {'cemu_moodle_in_process': False}, 'cemu_moodle_in_process'),
    (action(), {'cemu_moodle_in_process': 'no'}, 'cemu_moodle_in_process'),
])
def test_elsewhere_the_module_runs_as_a_module(plugin, variables, reason):
    assert plugin.reason_for_module_process(variables) == reason


def test_without_the_libraries_in_the_controller_the_module_runs_as_a_module(monkeypatch):
    monkeypatch.setattr(module_base, 'HAS_JMESPATH', False)
    assert action(args={'query': '[]'}).reason_for_module_process({}) is not None
    assert action().reason_for_module_process({}) is None
    monkeypatch.setattr(module_base, 'HAS_REQUESTS', False)
    assert action().reason_for_module_process({}) is not None


def test_every_action_plugin_names_its_module():
    from ansible_collections.cemu.moodle.plugins.action import (
        moodle_backup_enrolments as backup_action, moodle_restore_manual as restore_action,
        moodle_set_enrol_end as end_action)
    assert backup_action.ActionModule.MODULE is moodle_backup_enrolments
    assert restore_action.ActionModule.MODULE is moodle_restore_manual
    assert end_action.ActionModule.MODULE is moodle_set_enrol_end
    assert issubclass(backup_action.ActionModule, in_process.MoodleAction)


def test_the_site_check_runs_in_the_worker_with_the_modules_result(sim, capsys):
    from ansible_collections.cemu.moodle.plugins.action import moodle_site_check as site_action
    from ansible_collections.cemu.moodle.plugins.modules import moodle_site_check
    assert site_action.ActionModule.MODULE is moodle_site_check
    for args in ({'end': '2020-01-31'}, {'end': '2099-06-30'}):
        args = dict(connection(sim), **args)
        worker, process = in_worker(moodle_site_check, args), module_process(moodle_site_check, args, capsys)
        for result in (worker, process):
            result.pop('run_id', None)
            result.pop('servertime', None)
            result.pop('invocation', None)
            # the site's clock, read by each run, is in the message and in the problems: the two runs may fall
            # in different seconds
            if 'msg' in result:
                result['msg'] = SITE_CLOCK.sub('<site time>', result['msg'])
            if 'problems' in result:
                result['problems'] = [SITE_CLOCK.sub('<site time>', problem) for problem in result['problems']]
        assert worker == process
    assert 'already past' in in_worker(moodle_site_check, dict(connection(sim), end='2020-01-31'))['msg']
