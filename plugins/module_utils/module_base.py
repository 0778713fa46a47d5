# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MoodleModule: the shared part of every cemu.moodle module.

A module builds its own argument spec, creates ``MoodleModule(spec)``, and
then uses ``.course`` (the resolved course), ``.api`` (KeepAccessApi) and
``.exit(...)``. Every MoodleError becomes ``fail_json(msg=...)`` naming the
course, never the token.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from contextlib import contextmanager

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.cemu.moodle.plugins.module_utils.client import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    MoodleClient,
    MoodleError,
    mask_secret,
)
from ansible_collections.cemu.moodle.plugins.module_utils.diff_lines import prepared_diff
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import COURSE_BY_CHOICES, KeepAccessApi
from ansible_collections.cemu.moodle.plugins.module_utils.plan import CourseState

try:
    import jmespath  # noqa: F401 pylint: disable=unused-import
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - depends on the host
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = import_error

# option -> smallest sensible value
MINIMUM_VALUES = {'timeout': 1, 'batch_size': 1, 'max_input_vars': 100}
# connection option -> environment variable it falls back to (an empty value is refused)
NON_EMPTY_OPTIONS = (('moodle_url', 'MOODLE_URL'), ('moodle_token', 'MOODLE_TOKEN'))
# the results that list every user a step read or changed (their length grows with the course);
# option user_lists=false leaves them out (doc fragment cemu.moodle.results)
USER_LIST_RESULTS = ('users', 'created', 'updated', 'unchanged', 'end_dates_set', 'removed', 'reverted',
                     'changed_users')


def connection_argument_spec():
    """Options of doc fragment cemu.moodle.connection."""
    return dict(
        moodle_url=dict(type='str', required=True, fallback=(env_fallback, ['MOODLE_URL'])),
        moodle_token=dict(type='str', required=True, no_log=True, fallback=(env_fallback, ['MOODLE_TOKEN'])),
        validate_certs=dict(type='bool', default=True, fallback=(env_fallback, ['MOODLE_VALIDATE_CERTS'])),
        ca_path=dict(type='path', fallback=(env_fallback, ['MOODLE_CA_PATH'])),
        timeout=dict(type='int', default=60),
        batch_size=dict(type='int', default=500),
        max_input_vars=dict(type='int', default=5000),
    )


def course_argument_spec():
    """Options of doc fragment cemu.moodle.course."""
    return dict(
        course=dict(type='str', required=True),
        course_by=dict(type='str', default='auto', choices=list(COURSE_BY_CHOICES)),
    )


def results_argument_spec():
    """Options of doc fragment cemu.moodle.results."""
    return dict(user_lists=dict(type='bool', default=True))


def client_from_params(params):
    """A MoodleClient configured by the connection options."""
    return MoodleClient(
        params['moodle_url'], params['moodle_token'],
        validate_certs=params['validate_certs'], ca_path=params['ca_path'], timeout=params['timeout'],
        batch_size=params['batch_size'], max_input_vars=params['max_input_vars'])


def full_argument_spec(argument_spec=None, with_course=True):
    """A module's whole argument spec: the connection (and course and results) options and its own."""
    spec = connection_argument_spec()
    if with_course:
        spec.update(course_argument_spec())
        spec.update(results_argument_spec())
    spec.update(argument_spec or {})
    return spec


class MoodleModule:
    """AnsibleModule with the connection (and course) options, a client and error handling.

    ``module``: an object that stands in for AnsibleModule (the action plugins'
    in-process module, see plugins/plugin_utils/in_process.py), already built
    from ``full_argument_spec()``; without it an AnsibleModule is created here.
    """

    def __init__(self, argument_spec=None, with_course=True, needs_jmespath=False,
                 supports_check_mode=True, module=None, **kwargs):
        if module is None:
            module = AnsibleModule(argument_spec=full_argument_spec(argument_spec, with_course),
                                   supports_check_mode=supports_check_mode, **kwargs)
        self.module = module
        self._require_libraries(needs_jmespath)
        self._check_not_empty()
        self._check_minimum_values()
        self._client = None
        self._api = None
        self._course = None
        self._unread_answer = None      # the enrolments read that found the course by id, not yet planned on

    def _require_libraries(self, needs_jmespath):
        if not HAS_REQUESTS:
            self.module.fail_json(msg=missing_required_lib('requests'), exception=str(REQUESTS_IMPORT_ERROR))
        if needs_jmespath and not HAS_JMESPATH:
            self.module.fail_json(msg=missing_required_lib('jmespath'), exception=str(JMESPATH_IMPORT_ERROR))

    def _check_not_empty(self):
        """An empty URL or token fails here, before any HTTP call (Moodle would only say 'invalid token')."""
        for option, variable in NON_EMPTY_OPTIONS:
            if not (self.params[option] or '').strip():
                self.module.fail_json(msg='%s is empty: set it or %s' % (option, variable))

    def _check_minimum_values(self):
        for option, minimum in MINIMUM_VALUES.items():
            if self.params[option] < minimum:
                self.module.fail_json(msg='%s must be at least %d, got %d' % (option, minimum, self.params[option]))

    # -- shortcuts --

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return bool(self.module._diff)

    # -- Moodle --

    @property
    def client(self):
        if self._client is None:
            with self.moodle_errors():
                self._client = client_from_params(self.params)
        return self._client

    @property
    def api(self):
        if self._api is None:
            self._api = KeepAccessApi(self.client)
        return self._api

    @property
    def course(self):
        """The course named by the course options: {id, shortname, idnumber, fullname}.

        By id (course_by id) the course is known from the first read of its enrolments, which every
        course module makes anyway: read_course_state() gives that read once instead of reading again.
        """
        if self._course is None:
            with self.moodle_errors():
                if self.params['course_by'] == 'id':
                    self._course, self._unread_answer = self.api.read_course_by_id(self.params['course'])
                else:
                    self._course = self.api.find_course(self.params['course'], self.params['course_by'])
        return self._course

    def read_course_state(self, course=None):
        """(course, CourseState) of ``course`` (default: the one the course options name), read in full.

        The read that found the course by id counts as the first read of its state; any later call reads
        again (e.g. once the course is claimed)."""
        course = course or self.course
        answer, self._unread_answer = self._unread_answer, None
        with self.moodle_errors():
            if answer is None or int(answer['course']['id']) != int(course['id']):
                answer = self.api.read_course_enrolments(course['id'])
            state = CourseState.from_api(answer)
        # The companion plugin's identity is complete: Moodle leaves idnumber out of
        # core_course_get_courses_by_field for a token without moodle/course:update.
        return dict(course, **state.course), state

    def require_companion(self):
        """fail_json unless the token's service offers every function the collection calls."""
        with self.moodle_errors():
            self.api.require_companion()

    @contextmanager
    def moodle_errors(self):
        """Turn a MoodleError raised inside the block into fail_json naming the course."""
        try:
            yield
        except MoodleError as err:
            self.fail_json(msg=self.error_message(err), errorcode=err.errorcode)

    def error_message(self, err):
        """describe() of ``err``, prefixed with the course, without the token."""
        text = err.describe()
        label = self.course_label()
        if label and err.errorcode not in ('coursenotfound', 'courseambiguous'):
            text = '%s: %s' % (label, text)
        return mask_secret(text, self.params.get('moodle_token'))

    def course_label(self):
        """"course 'KA1' (id 2)" once resolved, "course 'KA1'" before, '' without course options."""
        if self._course is not None:
            return "course '%s' (id %s)" % (self._course['shortname'], self._course['id'])
        if self.params.get('course'):
            return "course '%s'" % self.params['course']
        return ''

    # -- results --

    def fail_json(self, msg, **kwargs):
        self.module.fail_json(msg=mask_secret(msg, self.params.get('moodle_token')), **kwargs)

    def exit(self, changed, before=None, after=None, lines=None, **result):
        """exit_json with ``changed`` and, when run with --diff, ``diff``: the readable ``lines`` (see
        module_utils/diff_lines.py; then ``before``/``after`` go to ``user_changes``), else {before, after}.
        With ``user_lists`` false the per-user lists (USER_LIST_RESULTS) are left out; counts stay."""
        if self.params.get('user_lists') is False:
            for name in USER_LIST_RESULTS:
                result.pop(name, None)
        if self.diff_mode and lines is not None:
            result.update(prepared_diff(lines, before or {}, after or {}))
        elif self.diff_mode and (before is not None or after is not None):
            result['diff'] = {'before': before if before is not None else {},
                              'after': after if after is not None else {}}
        self.module.exit_json(changed=bool(changed), **result)
