# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The companion plugin local_keepaccess's web-service functions, as docs/design.md specifies them."""

from __future__ import annotations

import bisect

from .protocol import DEFAULT, OPTIONAL, MoodleException, Multiple, Single, Value, invalid_parameter
from .registry import PLUGIN_VERSION, ws_function
from .state import GUEST_USERID, INSTANCE_DISABLED, INSTANCE_ENABLED, STUDENT, UE_ACTIVE

COMPONENT = 'local_keepaccess'

# The plugin's error strings (lang/en/local_keepaccess.php); {name} placeholders.
ERRORS = {
    'coursenotfound': 'Course {courseid} not found',
    'nomanualinstance': 'Course {courseid} has no enabled manual enrolment instance',
    'unknownuser': 'User {userid} does not exist',
    'deleteduser': 'User {userid} is deleted',
    'guestuser': 'User {userid} is the guest user and cannot be enrolled',
    'duplicateuser': 'User {userid} appears more than once in the same call',
    'invalidtimes': 'Enrolment end {timeend} is before its start {timestart} (user {userid})',
    'cannotassignrole': 'Role {roleid} cannot be assigned in course {courseid}',
}


def plugin_error(code, **values):
    """A moodle_exception of local_keepaccess."""
    return MoodleException('moodle', code, ERRORS[code].format(**values))


def require_course(ctx, courseid):
    """The course, or coursenotfound."""
    course = ctx.state.course(courseid)
    if course is None:
        raise plugin_error('coursenotfound', courseid=courseid)
    return course


def require_manual_instance(ctx, courseid):
    """The course's first enabled manual instance, or nomanualinstance."""
    instance = ctx.state.first_manual_instance(courseid)
    if instance is None:
        raise plugin_error('nomanualinstance', courseid=courseid)
    return instance


def require_assignable(ctx, roleids, courseid):
    """moodle/role:assign and every role assignable by the caller in the course."""
    if not roleids:
        return
    ctx.require_capability('moodle/role:assign')
    for roleid in roleids:
        if roleid not in ctx.assignable_roles():
            raise plugin_error('cannotassignrole', roleid=roleid, courseid=courseid)


def check_unique_users(rows):
    """The same userid twice in one call is duplicateuser."""
    seen = set()
    for row in rows:
        if row['userid'] in seen:
            raise plugin_error('duplicateuser', userid=row['userid'])
        seen.add(row['userid'])


# ----- local_keepaccess_get_course_enrolments ----------------------------------------------------
def instance_answer(instance):
    """One enrol instance as the plugin returns it."""
    return {'id': instance['id'], 'enrol': instance['enrol'], 'name': instance['name'], 'status': instance['status'],
            'roleid': instance['roleid'],
            'cohortid': instance['customint1'] if instance['enrol'] == 'cohort' else 0,
            'sendwelcome': 1 if instance['enrol'] == 'manual' and instance['customint1'] > 0 else 0}


def course_userids(state, instances, courseid):
    """Sorted ids of users with an enrolment or a role assignment in the course."""
    userids = set(state.ra_by_course.get(courseid, {}))
    for instance in instances:
        userids.update(state.ue_by_instance.get(instance['id'], {}))
    return sorted(userids)


def enrolments_of(state, instances, userids):
    """userenrolments rows of the given users, ordered by (userid, id)."""
    ues, users = state.tables['user_enrolments'], state.tables['users']
    rows = []
    for userid in userids:
        user = users.get(userid, {})
        found = [ues[ueid] for ueid in (state.ue_by_instance.get(i['id'], {}).get(userid) for i in instances)
                 if ueid is not None]
        for ue in sorted(found, key=lambda ue: ue['id']):
            enrol = state.tables['instances'][ue['enrolid']]['enrol']
            rows.append({'id': ue['id'], 'enrolid': ue['enrolid'], 'enrol': enrol, 'userid': userid,
                         'username': user.get('username', ''), 'status': ue['status'],
                         'timestart': ue['timestart'], 'timeend': ue['timeend'],
                         'usersuspended': int(bool(user.get('suspended'))),
                         'userdeleted': int(bool(user.get('deleted')))})
    return rows


def role_assignments_of(state, courseid, userids):
    """roleassignments rows (course context) of the given users, ordered by (userid, id)."""
    roles = state.tables['roles']
    return [{'id': ra['id'], 'userid': ra['userid'], 'roleid': ra['roleid'],
             'roleshortname': roles[ra['roleid']]['shortname'], 'component': ra['component'], 'itemid': ra['itemid']}
            for userid in userids for ra in sorted(state.role_assignments(courseid, userid), key=lambda r: r['id'])]


def course_enrolments(state, courseid, fromuserid=0, maxusers=0):
    """The get_course_enrolments answer (also used by the Python control API)."""
    course = state.course(courseid)
    instances = state.instances_of(courseid)
    userids = course_userids(state, instances, courseid)
    start = bisect.bisect_right(userids, fromuserid)
    end = start + maxusers if maxusers else len(userids)
    page = userids[start:end]
    return {
        'course': {key: course[key] for key in ('id', 'shortname', 'idnumber', 'fullname')},
        'instances': [instance_answer(i) for i in instances],
        'userenrolments': enrolments_of(state, instances, page),
        'roleassignments': role_assignments_of(state, courseid, page),
        'roles': [{'id': r['id'], 'shortname': r['shortname'], 'name': r['name']}
                  for r in sorted(state.tables['roles'].values(), key=lambda r: r['sortorder'])],
        'timezone': state.site['timezone'],
        'pluginversion': PLUGIN_VERSION,
        'nextfromuserid': page[-1] if page and end < len(userids) else 0,
    }


@ws_function('local_keepaccess_get_course_enrolments',
             {'courseid': Value('int'), 'fromuserid': Value('int', DEFAULT, 0), 'maxusers': Value('int', DEFAULT, 0)},
             component=COMPONENT)
def get_course_enrolments(ctx, courseid, fromuserid, maxusers):
    """Every enrolment and course role assignment, paged by user."""
    require_course(ctx, courseid)
    ctx.require_capability('moodle/course:enrolreview')
    if fromuserid < 0 or maxusers < 0:
        raise invalid_parameter()
    return course_enrolments(ctx.state, courseid, fromuserid, maxusers)


# ----- local_keepaccess_apply_manual_enrolments --------------------------------------------------
def check_enrollable_user(ctx, userid):
    """unknownuser / deleteduser / guestuser."""
    user = ctx.state.user(userid)
    if user is None:
        raise plugin_error('unknownuser', userid=userid)
    if user['deleted']:
        raise plugin_error('deleteduser', userid=userid)
    if userid == GUEST_USERID:
        raise plugin_error('guestuser', userid=userid)


def planned_enrolment(ctx, instance, row):
    """(existing ue or None, the values to write) for one apply row; checks times, status, manage capability."""
    if row.get('status', UE_ACTIVE) not in (0, 1):
        raise invalid_parameter()
    existing = ctx.state.user_enrolment(instance['id'], row['userid'])
    fields = ('status', 'timestart', 'timeend')
    if existing is None:
        values = {key: row.get(key, 0) for key in fields}
    else:
        values = {key: row.get(key, existing[key]) for key in fields}
    if values['timeend'] and values['timeend'] < values['timestart']:
        raise plugin_error('invalidtimes', userid=row['userid'], timestart=values['timestart'],
                           timeend=values['timeend'])
    if existing is not None and any(existing[key] != values[key] for key in fields):
        ctx.require_capability('enrol/manual:manage')
    return existing, values


def apply_row(ctx, instance, row, plan, sendwelcome):
    """Write one planned row; return its answer."""
    state = ctx.state
    existing, values = plan
    if existing is None:
        ueid, _created = state.enrol_user(instance, row['userid'], None, values['timestart'], values['timeend'],
                                          values['status'])
        result = 'created'
        if sendwelcome and instance['customint1']:
            contact = state.welcome_contact(instance['courseid'])
            if contact is not None:
                state.add_message({'courseid': instance['courseid'], 'userid': row['userid'],
                                   'instanceid': instance['id'], 'fromuserid': contact,
                                   'source': 'local_keepaccess_apply_manual_enrolments'})
    else:
        ueid = existing['id']
        changes = {key: value for key, value in values.items() if existing[key] != value}
        state.update_user_enrol(existing, **changes)
        result = 'updated' if changes else 'unchanged'
    assigned = [roleid for roleid in row.get('roleids', ())
                if state.role_assign(roleid, row['userid'], instance['courseid'])[1]]
    return {'userid': row['userid'], 'ueid': ueid, 'result': result, 'rolesassigned': assigned}


APPLY_ROW = Single({'userid': Value('int'), 'status': Value('int', OPTIONAL), 'timestart': Value('int', OPTIONAL),
                    'timeend': Value('int', OPTIONAL), 'roleids': Multiple(Value('int'), OPTIONAL)})


@ws_function('local_keepaccess_apply_manual_enrolments',
             {'courseid': Value('int'), 'enrolments': Multiple(APPLY_ROW), 'sendwelcome': Value('int', DEFAULT, 0)},
             component=COMPONENT)
def apply_manual_enrolments(ctx, courseid, enrolments, sendwelcome):
    """Create or update manual enrolments with exactly the given values; all rows or none."""
    require_course(ctx, courseid)
    ctx.require_capability('enrol/manual:enrol')
    instance = require_manual_instance(ctx, courseid)
    if sendwelcome not in (0, 1):
        raise invalid_parameter()
    check_unique_users(enrolments)
    plans = []
    for row in enrolments:
        check_enrollable_user(ctx, row['userid'])
        require_assignable(ctx, row.get('roleids', ()), courseid)
        plans.append(planned_enrolment(ctx, instance, row))
    return [apply_row(ctx, instance, row, plan, sendwelcome) for row, plan in zip(enrolments, plans)]


# ----- local_keepaccess_remove_manual_enrolments -------------------------------------------------
REMOVE_ROW = Single({'userid': Value('int'), 'unenrol': Value('int', DEFAULT, 0),
                     'roleids': Multiple(Value('int'), OPTIONAL)})


@ws_function('local_keepaccess_remove_manual_enrolments',
             {'courseid': Value('int'), 'enrolments': Multiple(REMOVE_ROW)}, component=COMPONENT)
def remove_manual_enrolments(ctx, courseid, enrolments):
    """Unassign manual roles and/or remove manual enrolments; all rows or none."""
    state = ctx.state
    require_course(ctx, courseid)
    check_unique_users(enrolments)
    unenrolling = any(row['unenrol'] for row in enrolments)
    if any(row['unenrol'] not in (0, 1) for row in enrolments):
        raise invalid_parameter()
    if unenrolling:
        ctx.require_capability('enrol/manual:unenrol')
    instance = require_manual_instance(ctx, courseid) if unenrolling else None
    for row in enrolments:
        if state.user(row['userid']) is None:
            raise plugin_error('unknownuser', userid=row['userid'])
        require_assignable(ctx, row.get('roleids', ()), courseid)
    answers = []
    for row in enrolments:
        removed = []
        for roleid in row.get('roleids', ()):
            removed += state.role_unassign_all(row['userid'], courseid, roleid=roleid, component='', itemid=0)
        unenrolled = state.unenrol_user(instance, row['userid']) if row['unenrol'] else False
        answers.append({'userid': row['userid'], 'unenrolled': int(unenrolled), 'rolesunassigned': removed})
    return answers


# ----- local_keepaccess_ensure_manual_instance ---------------------------------------------------
def add_manual_instance(state, courseid, status=INSTANCE_ENABLED, customint1=0):
    """enrol_manual's add_instance with the plugin's defaults, at the end of the sort order."""
    sortorder = max((i['sortorder'] for i in state.instances_of(courseid)), default=-1) + 1
    return state.insert('instances', {'courseid': courseid, 'enrol': 'manual', 'name': '', 'status': status,
                                      'roleid': STUDENT, 'customint1': customint1, 'sortorder': sortorder})


@ws_function('local_keepaccess_ensure_manual_instance', {'courseid': Value('int'), 'enable': Value('int', DEFAULT, 1)},
             component=COMPONENT)
def ensure_manual_instance(ctx, courseid, enable):
    """Create a manual instance (welcome off) when none exists; enable the first when all are disabled."""
    state = ctx.state
    require_course(ctx, courseid)
    ctx.require_capability('moodle/course:enrolconfig')
    ctx.require_capability('enrol/manual:config')
    manual = [i for i in state.instances_of(courseid) if i['enrol'] == 'manual']
    if not manual:
        status = INSTANCE_ENABLED if enable else INSTANCE_DISABLED
        return {'instanceid': add_manual_instance(state, courseid, status), 'created': 1, 'enabled': 0}
    enabled = [i for i in manual if i['status'] == INSTANCE_ENABLED]
    if enabled:
        return {'instanceid': enabled[0]['id'], 'created': 0, 'enabled': 0}
    if enable:
        state.update('instances', manual[0]['id'], status=INSTANCE_ENABLED)
        return {'instanceid': manual[0]['id'], 'created': 0, 'enabled': 1}
    return {'instanceid': manual[0]['id'], 'created': 0, 'enabled': 0}
