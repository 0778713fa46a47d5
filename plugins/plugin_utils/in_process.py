# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a cemu.moodle module inside the controller's worker process.

Each module (``plugins/modules/<name>.py``) has ``argument_spec()`` and
``run(moodle)``; its action plugin of the same name is a :class:`MoodleAction`
that names the module. On the controller (local connection, no become, no
async) the action validates the task's arguments with the module's argument
spec, builds an :class:`InProcessModule` (the part of AnsibleModule the
modules use) and calls ``run(MoodleModule(module=...))`` in the worker:
no Python start-up, no AnsiballZ, no module process. Anywhere else the module
runs as a module, as it always did.

The result is the one AnsibleModule would return: the same options, defaults,
environment fallbacks (the controller's environment plus the task's
``environment:``), the same messages, ``invocation.module_args`` and every
``no_log`` value (the token) removed from the whole result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import env_fallback
from ansible.module_utils.common.validation import check_type_bool
from ansible.module_utils.errors import AnsibleFallbackNotFound, UnsupportedError
from ansible.module_utils.common.parameters import remove_values
from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.cemu.moodle.plugins.module_utils import module_base

# connection plugins whose commands run on the controller itself
CONTROLLER_TRANSPORTS = ('local',)
# task variable that sends a task through the module process even on the controller
IN_PROCESS_VARIABLE = 'cemu_moodle_in_process'
# connection option -> the host variable read when neither the task nor module_defaults set the option
CONNECTION_VARIABLES = (
    ('moodle_url', 'moodle_url'),
    ('moodle_token', 'moodle_token'),
    ('validate_certs', 'moodle_validate_certs'),
    ('ca_path', 'moodle_ca_path'),
    ('timeout', 'moodle_timeout'),
    ('batch_size', 'moodle_batch_size'),
    ('max_input_vars', 'moodle_max_input_vars'),
)
# Jinja plugins that role keep_access templates for every course (see warm_jinja_plugins): any builtin name
# loads every builtin filter file; keep_access_course_end in the steps, keep_access_course_stop in the role's
# per-course stop task (its file also holds keep_access_site_failure)
COURSE_FILTERS = ('ansible.builtin.bool', 'cemu.moodle.keep_access_course_end', 'cemu.moodle.keep_access_course_stop')
COURSE_TESTS = ('ansible.builtin.defined',)


class ModuleExit(Exception):
    """exit_json or fail_json of an InProcessModule: ``result`` is what the module would print."""

    def __init__(self, result):
        super(ModuleExit, self).__init__(result.get('msg', ''))
        self.result = result


class InProcessModule:
    """Stands in for AnsibleModule in the controller: validated params, check/diff mode, warn, exit/fail.

    Built from the module's whole argument spec and the task's arguments;
    ``environment`` is what env fallbacks read (instead of ``os.environ``).
    ``exit_json``/``fail_json`` raise :class:`ModuleExit` with the result,
    formatted as AnsibleModule formats it.
    """

    def __init__(self, argument_spec, args, environment=None, check_mode=False, diff=False, name=None,
                 inject_invocation=True):
        self.argument_spec = argument_spec
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self._name = name
        self._inject_invocation = inject_invocation
        self.no_log_values = set()
        self._warnings = []
        self._deprecations = []
        self.params = as_module_input(args)
        self._validate(with_environment(argument_spec, environment if environment is not None else os.environ))

    def _validate(self, spec):
        validated = ArgumentSpecValidator(spec).validate(self.params)
        self.params.update(validated.validated_parameters)
        self.no_log_values.update(validated._no_log_values)
        if validated.errors.errors:
            message = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                message = 'Unsupported parameters for (%s) module: %s' % (self._name, message)
            self.fail_json(msg=message)

    def warn(self, warning):
        self._warnings.append(warning)

    def deprecate(self, msg, version=None, date=None, collection_name=None, **kwargs):
        self._deprecations.append(dict((k, v) for k, v in
                                       (('msg', msg), ('version', version), ('date', date),
                                        ('collection_name', collection_name)) if v is not None))

    def boolean(self, value):
        return check_type_bool(value)

    def exit_json(self, **result):
        raise ModuleExit(self._formatted(result))

    def fail_json(self, msg, **result):
        result.pop('exception', None)  # AnsibleModule keeps a traceback only when tracebacks are asked for
        result.update(failed=True, msg=str(msg))
        raise ModuleExit(self._formatted(result))

    def _formatted(self, result):
        """AnsibleModule's _return_formatted: invocation, warnings, no_log values removed; JSON types."""
        if self._inject_invocation:
            result.setdefault('invocation', {'module_args': self.params})
        if self._warnings:
            result['warnings'] = list(self._warnings)
        if self._deprecations:
            result['deprecations'] = list(self._deprecations)
        preserved = dict((k, v) for k, v in result.items() if v is None or isinstance(v, bool))
        result = remove_values(result, self.no_log_values)
        result.update(preserved)
        return json.loads(json.dumps(result))


def as_module_input(args):
    """``args`` as a module process receives them: JSON types, vaulted values decrypted, dates as text."""
    return json.loads(json.dumps(args, cls=AnsibleJSONEncoder, vault_to_text=True))


def with_environment(spec, environment):
    """A copy of ``spec`` whose env fallbacks read ``environment`` (suboptions included)."""
    def from_environment(*names, **_kwargs):
        for name in names:
            if name in environment:
                return environment[name]
        raise AnsibleFallbackNotFound

    copy = {}
    for name, option in spec.items():
        option = dict(option)
        fallback = option.get('fallback')
        if fallback and fallback[0] is env_fallback:
            option['fallback'] = (from_environment,) + tuple(fallback[1:])
        if option.get('options'):
            option['options'] = with_environment(option['options'], environment)
        copy[name] = option
    return copy


def uses_moodle(module):
    """Whether ``module`` talks to Moodle (connection options, MoodleModule) or, like the report's, does not."""
    return getattr(module, 'MOODLE_CONNECTION', True)


def run_in_process(module, args, environment=None, check_mode=False, diff=False, name=None, inject_invocation=True):
    """The result of module ``module`` (a plugins.modules file) run with ``args``, without a process.

    ``inject_invocation``: add ``invocation.module_args`` (modules do up to ansible-core 2.20; from 2.21
    only when the INJECT_INVOCATION setting asks for it).
    """
    moodle = uses_moodle(module)
    spec = module.argument_spec()
    if moodle:
        spec = module_base.full_argument_spec(spec, with_course=getattr(module, 'WITH_COURSE', True))
    try:
        ansible_module = InProcessModule(spec, args, environment, check_mode=check_mode, diff=diff, name=name,
                                         inject_invocation=inject_invocation)
        module.run(module_base.MoodleModule(module=ansible_module) if moodle else ansible_module)
    except ModuleExit as done:
        return done.result
    raise RuntimeError('%s returned without exit_json or fail_json' % name)


class MoodleAction(ActionBase):
    """Base of the collection's action plugins: runs ``MODULE`` in the worker when the task is on the controller.

    A subclass names its module::

        from ansible_collections.cemu.moodle.plugins.modules import moodle_set_enrol_end
        class ActionModule(MoodleAction):
            MODULE = moodle_set_enrol_end

    The module's ``run(moodle)`` does the work (read the course, plan, write
    unless in check mode, exit). A task for another host (a connection that is
    not local), with ``become`` or ``async``, or whose controller Python lacks
    the module's libraries runs the module there, as a module, unchanged.
    """

    MODULE = None
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(MoodleAction, self).run(tmp, task_vars)
        del tmp
        if uses_moodle(self.MODULE):
            self._task.args = self.with_connection_variables(self._task.args, task_vars)
        if self.reason_for_module_process(task_vars):
            return merge_hash(result, self.run_module_process(task_vars))
        return merge_hash(result, self.run_in_worker(task_vars))

    def with_connection_variables(self, args, task_vars):
        """``args`` plus each connection option they lack that the host's variables set (moodle_url, ...).

        The task's own options and ``module_defaults`` (already in ``args``) come first, then
        these variables, then the environment variables of the options' env fallbacks.
        """
        missing = [(option, variable) for option, variable in CONNECTION_VARIABLES
                   if option not in args and variable in task_vars]
        if not missing:
            return args
        args = dict(args)
        for option, variable in missing:
            args[option] = self._templar.template(task_vars[variable])
        return args

    # -- where the module runs --

    def reason_for_module_process(self, task_vars):
        """Why this task must run the module as a process (there, as before), or None to run it here."""
        if self._connection.transport not in CONTROLLER_TRANSPORTS:
            return 'connection %s' % self._connection.transport
        if self._play_context.become:
            return 'become'
        if self._task.async_val:
            return 'async'
        if not check_type_bool(task_vars.get(IN_PROCESS_VARIABLE, True)):
            return IN_PROCESS_VARIABLE
        if not module_base.HAS_REQUESTS or (self._task.args.get('query') and not module_base.HAS_JMESPATH):
            return "a library missing in the controller's Python"
        return None

    def run_module_process(self, task_vars):
        """The module run as a module (AnsiballZ) through the task's connection, as the normal action does."""
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = self._execute_module(task_vars=task_vars, wrap_async=wrap_async)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def run_in_worker(self, task_vars):
        """The module's run(moodle) in this worker process, with what a module process would receive."""
        internal = {}
        self._update_module_args(self._task.action, internal, task_vars)
        return run_in_process(self.MODULE, self._task.args, self.module_environment(),
                              check_mode=internal['_ansible_check_mode'], diff=internal['_ansible_diff'],
                              name=internal['_ansible_module_name'],
                              inject_invocation=internal.get('_ansible_inject_invocation', True))

    def module_environment(self):
        """What a module process on the controller would see: this process's environment and the task's."""
        task_environment = {}
        self._compute_environment_string(task_environment)
        environment = dict(os.environ)
        environment.update((str(k), str(v)) for k, v in task_environment.items())
        return environment


def warm_jinja_plugins(filters=COURSE_FILTERS, tests=COURSE_TESTS):
    """Load the Jinja filter and test plugins once, in the process that imports the action plugins.

    ansible-playbook imports an action plugin's class in its main process (to
    learn whether it bypasses the host loop) before it forks a worker for each
    course and task. A worker inherits what the main process has loaded; a
    plugin first loaded in a worker is loaded again in every worker (each time
    reading every builtin filter and test file). Loading them here, once, spares
    each task of each course that work. Nothing depends on it: a plugin that
    fails to load here is loaded where it is used, as before.
    """
    try:
        from ansible.plugins.loader import filter_loader, test_loader
    except ImportError:  # pragma: no cover - outside ansible-core
        return
    for loader, names in ((filter_loader, filters), (test_loader, tests)):
        for name in names:
            try:
                loader.get(name)
            except Exception:  # pylint: disable=broad-except
                pass


warm_jinja_plugins()
