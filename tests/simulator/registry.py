# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Web-service functions the simulator knows, services, site versions, and the per-call context."""

from __future__ import annotations

from .protocol import MoodleException, no_permission
from .state import ADMIN_USERID

SITE_VERSIONS = {
    '4.5': {'release': '4.5 (Build: 20241007)', 'version': '2024100700', 'showactivitydates': False},
    '5.1': {'release': '5.1.3 (Build: 20260216)', 'version': '2025100603', 'showactivitydates': True},
}
PLUGIN_VERSION = 2026120200

# Service `keep_access` of local_keepaccess (docs/design.md).
KEEP_ACCESS_SERVICE = (
    'local_keepaccess_get_course_enrolments', 'local_keepaccess_apply_manual_enrolments',
    'local_keepaccess_remove_manual_enrolments', 'local_keepaccess_ensure_manual_instance',
    'local_keepaccess_get_course_history', 'local_keepaccess_get_site_settings', 'local_keepaccess_claim_course',
    'local_keepaccess_release_course', 'core_webservice_get_site_info', 'core_course_get_courses_by_field', 'core_course_get_categories',
    'enrol_manual_enrol_users', 'enrol_manual_unenrol_users',
)
# The recorded site's service `realmoodle_ws` (21 functions; the recordings show the first 5).
# The simulator puts local_keepaccess's functions at its end so the modules can run on this fixture too.
RECORDED_SERVICE = (
    'core_webservice_get_site_info', 'core_course_get_courses_by_field', 'core_course_get_courses',
    'core_course_search_courses', 'core_course_get_categories', 'core_enrol_get_enrolled_users',
    'core_enrol_get_course_enrolment_methods', 'core_enrol_get_users_courses', 'enrol_manual_enrol_users',
    'enrol_manual_unenrol_users', 'core_role_assign_roles', 'core_role_unassign_roles',
    'core_user_get_users_by_field', 'core_cohort_get_cohorts', 'core_cohort_get_cohort_members',
    'core_group_get_course_groups', 'core_course_get_contents',
    'local_keepaccess_get_course_enrolments', 'local_keepaccess_apply_manual_enrolments',
    'local_keepaccess_remove_manual_enrolments', 'local_keepaccess_ensure_manual_instance',
    'local_keepaccess_get_course_history', 'local_keepaccess_get_site_settings', 'local_keepaccess_claim_course',
    'local_keepaccess_release_course',
)
# Functions that exist in Moodle but that the simulator does not implement: calling one
# that is in the token's service fails with errorcode `simulatornotimplemented`.
OTHER_MOODLE_FUNCTIONS = frozenset(RECORDED_SERVICE) | frozenset((
    'core_user_create_users', 'core_user_delete_users', 'core_user_update_users', 'core_course_create_courses',
    'core_course_delete_courses', 'core_enrol_get_enrolled_users_with_capability', 'core_user_get_users',
))

IMPLEMENTED = {}


class WsFunction:
    """One web-service function: its parameter description and handler."""

    def __init__(self, name, params, handler, component):
        self.name, self.params, self.handler, self.component = name, params, handler, component


def ws_function(name, params, component='moodle'):
    """Register a handler(ctx, **params) as a web-service function."""
    def register(handler):
        IMPLEMENTED[name] = WsFunction(name, params, handler, component)
        return handler
    return register


def function_exists(name):
    """Whether Moodle (with local_keepaccess installed) has this function."""
    return name in IMPLEMENTED or name in OTHER_MOODLE_FUNCTIONS


def function_version(name, version):
    """The version site_info reports for a function: core's, or the plugin's."""
    if name.startswith('local_keepaccess_'):
        return str(PLUGIN_VERSION)
    return SITE_VERSIONS[version]['version']


class Token:
    """A web-service token: its user, its service's functions, capabilities it lacks."""

    def __init__(self, token, userid=ADMIN_USERID, functions=KEEP_ACCESS_SERVICE, missing_capabilities=(),
                 valid=True):
        self.token = token
        self.userid = userid
        self.functions = list(functions)
        self.missing_capabilities = set(missing_capabilities)
        self.valid = valid

    def describe(self):
        """JSON-ready description without the token value."""
        return {'userid': self.userid, 'functions': list(self.functions),
                'missing_capabilities': sorted(self.missing_capabilities), 'valid': self.valid}


class CallContext:
    """What a handler sees: the state, the site version, the caller, the site URL."""

    def __init__(self, state, token, base_url):
        self.state = state
        self.token = token
        self.base_url = base_url
        self.version = state.version

    def require_capability(self, capability):
        """require_capability() in a course context."""
        if not self.has_capability(capability):
            raise no_permission(capability)

    def has_capability(self, capability):
        """has_capability(): what the token's user may do (site admin: everything; else its system
        roles' capabilities), minus the capabilities the test took away from the token."""
        return (capability not in self.token.missing_capabilities
                and self.state.user_has_capability(self.token.userid, capability))

    def assignable_roles(self):
        """get_assignable_roles() in a course context for this caller (admin: every course role; else
        what its roles may assign by "Allow role assignments")."""
        if not self.has_capability('moodle/role:assign'):
            return frozenset()
        return self.state.assignable_roles(self.token.userid)

    @property
    def is_site_admin(self):
        """is_siteadmin() of the token's user."""
        return self.state.is_site_admin(self.token.userid)

    def since(self, version):
        """Whether the simulated Moodle is this version or newer."""
        return tuple(map(int, self.version.split('.'))) >= tuple(map(int, version.split('.')))


def not_implemented(name):
    """The error for a Moodle function the simulator does not implement."""
    return MoodleException('moodle', 'simulatornotimplemented',
                           'The Moodle simulator does not implement %s' % name)
