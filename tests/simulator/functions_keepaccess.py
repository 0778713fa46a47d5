# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The companion plugin local_keepaccess's web-service functions, as docs/design.md specifies them."""

from __future__ import annotations

import bisect
import re

from . import functions_history as history
from .companion import plugin_strings
from .protocol import DEFAULT, OPTIONAL, MoodleException, Multiple, Single, Value
from .registry import PLUGIN_VERSION, ws_function
from .state import ADMIN_USERID, GUEST_USERID, INSTANCE_ENABLED, STUDENT, UE_ACTIVE

COMPONENT = 'local_keepaccess'


def plugin_error(code, a):
    """A moodle_exception of local_keepaccess: get_string(code, 'local_keepaccess', $a)."""
    def placeholder(match):
        return str(a[match.group(1)] if match.group(1) else a)
    text = re.sub(r'\{\$a(?:->(\w+))?\}', placeholder, plugin_strings()[code])
    return MoodleException('moodle', code, text)


def about_user(userid, courseid, **extra):
    """course_target::about_user(): placeholders of strings that name a user in a course."""
    return dict(extra, userid=userid, courseid=courseid)


def require_course(ctx, courseid):
    """course_target::load(): the course (never the site front page), or coursenotfound."""
    course = ctx.state.course(courseid)
    if course is None:
        raise plugin_error('coursenotfound', courseid)
    return course


def require_manual_instance(ctx, courseid):
    """The course's first enabled manual instance, or nomanualinstance."""
    instance = ctx.state.first_manual_instance(courseid)
    if instance is None:
        raise plugin_error('nomanualinstance', courseid)
    return instance


def all_roleids(rows):
    """Every distinct role id of the rows, in first-seen order."""
    return list(dict.fromkeys(roleid for row in rows for roleid in row.get('roleids', ())))


def require_assignable(ctx, roleids, courseid):
    """moodle/role:assign, then every role assignable by the caller in the course."""
    if not roleids:
        return
    ctx.require_capability('moodle/role:assign')
    for roleid in roleids:
        if roleid not in ctx.assignable_roles():
            raise plugin_error('cannotassignrole', {'roleid': roleid, 'courseid': courseid})


def require_unique_users(rows, courseid):
    """The same userid twice in one call is duplicateuser."""
    seen = set()
    for row in rows:
        if row['userid'] in seen:
            raise plugin_error('duplicateuser', about_user(row['userid'], courseid))
        seen.add(row['userid'])


def require_real_users(ctx, rows, courseid):
    """unknownuser / deleteduser / guestuser, row by row."""
    for row in rows:
        user = ctx.state.user(row['userid'])
        if user is None:
            raise plugin_error('unknownuser', about_user(row['userid'], courseid))
        if user['deleted']:
            raise plugin_error('deleteduser', about_user(row['userid'], courseid))
        if row['userid'] == GUEST_USERID:
            raise plugin_error('guestuser', about_user(row['userid'], courseid))


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
                         # The plugin: a user enrolment without its user row belongs to a deleted account.
                         'userdeleted': int(bool(user.get('deleted', 1)))})
    return rows


def role_assignments_of(state, courseid, userids):
    """roleassignments rows (course context) of the given users, ordered by (userid, id)."""
    roles = state.tables['roles']
    return [{'id': ra['id'], 'userid': ra['userid'], 'roleid': ra['roleid'],
             'roleshortname': roles[ra['roleid']]['shortname'], 'component': ra['component'], 'itemid': ra['itemid']}
            for userid in userids for ra in sorted(state.role_assignments(courseid, userid), key=lambda r: r['id'])]


def inherited_role_assignments_of(state, courseid, userids):
    """inheritedroleassignments rows: parent-context assignments of the given users enrolled in the course."""
    roles = state.tables['roles']
    return [{'id': ra['id'], 'userid': userid, 'roleid': ra['roleid'],
             'roleshortname': roles[ra['roleid']]['shortname'], 'contextid': ra['contextid'],
             'contextlevel': ra['contextlevel']}
            for userid in userids if state.user_course_enrolments(userid, courseid)
            for ra in state.inherited_role_assignments(courseid, userid) if ra['roleid'] in roles]


def course_enrolments(state, courseid, fromuserid=0, maxusers=0, assignable_roles=None):
    """The get_course_enrolments answer (also used by the Python control API, as the site admin sees it).

    ``assignable_roles``: the caller's get_assignable_roles() (default the site admin's)."""
    if assignable_roles is None:
        assignable_roles = state.assignable_roles(ADMIN_USERID)
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
        'inheritedroleassignments': inherited_role_assignments_of(state, courseid, page),
        'roles': [{'id': r['id'], 'shortname': r['shortname'], 'name': r['name']}
                  for r in sorted(state.tables['roles'].values(), key=lambda r: r['sortorder'])],
        'assignableroles': [r['id'] for r in sorted(state.tables['roles'].values(), key=lambda r: r['sortorder'])
                            if r['id'] in assignable_roles],
        'timezone': state.site['timezone'],
        'pluginversion': PLUGIN_VERSION,
        'nextfromuserid': page[-1] if page and end < len(userids) else 0,
    }


@ws_function('local_keepaccess_get_course_enrolments',
             {'courseid': Value('int'), 'fromuserid': Value('int', DEFAULT, 0), 'maxusers': Value('int', DEFAULT, 0)},
             component=COMPONENT)
def get_course_enrolments(ctx, courseid, fromuserid, maxusers):
    """Every enrolment and course role assignment, paged by user."""
    if fromuserid < 0 or maxusers < 0:
        raise plugin_error('invalidpaging', {'courseid': courseid, 'fromuserid': fromuserid, 'maxusers': maxusers})
    require_course(ctx, courseid)
    ctx.require_capability('moodle/course:enrolreview')
    return course_enrolments(ctx.state, courseid, fromuserid, maxusers, ctx.assignable_roles())


# ----- local_keepaccess_apply_manual_enrolments --------------------------------------------------
ENROLMENT_FIELDS = ('status', 'timestart', 'timeend')


def plan_row(ctx, instance, row, courseid):
    """(existing ue or None, values to write): new rows get every value (omitted = 0), existing ones the changes."""
    userid = row['userid']
    given = {key: row[key] for key in ENROLMENT_FIELDS if key in row}
    if given.get('status', UE_ACTIVE) not in (0, 1):
        raise plugin_error('invalidstatus', about_user(userid, courseid, status=given['status']))
    existing = ctx.state.user_enrolment(instance['id'], userid)
    current = {key: existing[key] if existing else 0 for key in ENROLMENT_FIELDS}
    final = dict(current, **given)
    if existing is None or 'timestart' in given or 'timeend' in given:
        start, end = final['timestart'], final['timeend']
        if start < 0 or end < 0 or (end and end < start):
            raise plugin_error('invalidtimes', about_user(userid, courseid, timestart=start, timeend=end))
    if existing is None:
        return None, final
    return existing, {key: value for key, value in final.items() if current[key] != value}


def send_created_welcome(state, instance, userid):
    """The course's welcome message for a created enrolment (setting on and a contact to send it from)."""
    contact = state.welcome_contact(instance['courseid'])
    if instance['customint1'] and contact is not None:
        state.add_message({'courseid': instance['courseid'], 'userid': userid, 'instanceid': instance['id'],
                           'fromuserid': contact, 'source': 'local_keepaccess_apply_manual_enrolments'})


def apply_row(state, instance, row, plan, sendwelcome, assignable, run):
    """Write one planned row and its missing manual roles (skipping those the caller may not assign),
    record it in the history; return its answer."""
    existing, values = plan
    courseid = instance['courseid']
    before = history.enrolment_state(existing)
    rolesbefore = history.manual_roles(state, courseid, row['userid'])
    if existing is None:
        ueid = state.enrol_user(instance, row['userid'], None, values['timestart'], values['timeend'],
                                values['status'])[0]
        result = 'created'
        if sendwelcome:
            send_created_welcome(state, instance, row['userid'])
    else:
        ueid = existing['id']
        state.update_user_enrol(existing, **values)
        result = 'updated' if values else 'unchanged'
    held = {ra['roleid'] for ra in state.role_assignments(instance['courseid'], row['userid'])
            if (ra['component'], ra['itemid']) == ('', 0)}
    wanted = [roleid for roleid in dict.fromkeys(row.get('roleids', ())) if roleid not in held]
    assigned = [roleid for roleid in wanted if roleid in assignable
                and state.role_assign(roleid, row['userid'], instance['courseid'])[1]]
    skipped = [roleid for roleid in wanted if roleid not in assignable]
    history.record(state, courseid, row['userid'], run, before,
                   history.enrolment_state(state.user_enrolment(instance['id'], row['userid'])), rolesbefore,
                   history.manual_roles(state, courseid, row['userid']))
    return {'userid': row['userid'], 'ueid': ueid, 'result': result, 'rolesassigned': assigned,
            'rolesskipped': skipped}


APPLY_ROW = Single({'userid': Value('int'), 'status': Value('int', OPTIONAL), 'timestart': Value('int', OPTIONAL),
                    'timeend': Value('int', OPTIONAL), 'roleids': Multiple(Value('int'), OPTIONAL)})


RUN_PARAMS = {'runid': Value('alphanumext', DEFAULT, ''), 'step': Value('alphanumext', DEFAULT, '')}


def guard_write(ctx, courseid, runid):
    """The run id's length, then (under the course's lock) the course's claim."""
    history.require_valid_runid(runid, courseid)
    history.require_writable(ctx.state, courseid, runid)


@ws_function('local_keepaccess_apply_manual_enrolments',
             dict({'courseid': Value('int'), 'enrolments': Multiple(APPLY_ROW),
                   'sendwelcome': Value('int', DEFAULT, 0)}, **RUN_PARAMS),
             component=COMPONENT)
def apply_manual_enrolments(ctx, courseid, enrolments, sendwelcome, runid, step):
    """Create or update manual enrolments with exactly the given values; all rows or none."""
    require_course(ctx, courseid)
    ctx.require_capability('enrol/manual:enrol')
    instance = require_manual_instance(ctx, courseid)
    require_unique_users(enrolments, courseid)
    require_real_users(ctx, enrolments, courseid)
    assignable = ctx.assignable_roles() if all_roleids(enrolments) else frozenset()
    guard_write(ctx, courseid, runid)
    plans = [plan_row(ctx, instance, row, courseid) for row in enrolments]
    if any(existing is not None and values for existing, values in plans):
        ctx.require_capability('enrol/manual:manage')
    run = {'runid': runid, 'step': step}
    return [apply_row(ctx.state, instance, row, plan, sendwelcome, assignable, run)
            for row, plan in zip(enrolments, plans)]


# ----- local_keepaccess_remove_manual_enrolments -------------------------------------------------
REMOVE_ROW = Single({'userid': Value('int'), 'unenrol': Value('int', DEFAULT, 0),
                     'roleids': Multiple(Value('int'), OPTIONAL), 'status': Value('int', OPTIONAL),
                     'timestart': Value('int', OPTIONAL), 'timeend': Value('int', OPTIONAL)})


def puts_back_fields(row):
    """Whether a remove row gives fields to put back (since 2026120130)."""
    return any(key in row for key in ENROLMENT_FIELDS)


def fields_to_put_back(ctx, courseid, manual, rows):
    """{userid: {field: value}} of the fields rows put back that differ; checked before any write (as PHP)."""
    putback = {}
    for row in rows:
        existing = ctx.state.user_enrolment(manual['id'], row['userid']) if manual else None
        if row['unenrol'] or not puts_back_fields(row) or existing is None:
            continue
        values = {key: row[key] for key in ENROLMENT_FIELDS if key in row and row[key] != existing[key]}
        if 'status' in values and values['status'] not in (0, 1):
            raise plugin_error('invalidstatus', about_user(row['userid'], courseid, status=values['status']))
        start, end = values.get('timestart', existing['timestart']), values.get('timeend', existing['timeend'])
        if start < 0 or end < 0 or (end and end < start):
            raise plugin_error('invalidtimes', about_user(row['userid'], courseid, timestart=start, timeend=end))
        if values:
            putback[row['userid']] = values
    if putback:
        ctx.require_capability('enrol/manual:manage')
    return putback


@ws_function('local_keepaccess_remove_manual_enrolments',
             dict({'courseid': Value('int'), 'enrolments': Multiple(REMOVE_ROW)}, **RUN_PARAMS), component=COMPONENT)
def remove_manual_enrolments(ctx, courseid, enrolments, runid, step):
    """Unassign manual roles and/or remove manual enrolments; all rows or none."""
    state = ctx.state
    require_course(ctx, courseid)
    require_unique_users(enrolments, courseid)
    for row in enrolments:
        if state.user(row['userid']) is None:
            raise plugin_error('unknownuser', about_user(row['userid'], courseid))
    require_assignable(ctx, all_roleids(enrolments), courseid)
    instance = None
    if any(row['unenrol'] for row in enrolments):
        ctx.require_capability('enrol/manual:unenrol')
        instance = require_manual_instance(ctx, courseid)
    if any(puts_back_fields(row) for row in enrolments):
        instance = require_manual_instance(ctx, courseid)
    guard_write(ctx, courseid, runid)
    manual = instance or state.first_manual_instance(courseid)
    putback = fields_to_put_back(ctx, courseid, manual, enrolments)
    run = {'runid': runid, 'step': step}
    return [remove_row(state, courseid, instance, manual, row, putback.get(row['userid'], {}), run)
            for row in enrolments]


def remove_row(state, courseid, instance, manual, row, putback, run):
    """Remove one row's manual roles and enrolment (or put its fields back), record it in the history;
    return its answer."""
    userid = row['userid']
    existing = state.user_enrolment(manual['id'], userid) if manual else None
    before = history.enrolment_state(existing)
    rolesbefore = history.manual_roles(state, courseid, userid)
    removed = []
    for roleid in dict.fromkeys(row.get('roleids', ())):
        removed += state.role_unassign_all(userid, courseid, roleid=roleid, component='', itemid=0)
    unenrolled = bool(row['unenrol']) and state.unenrol_user(instance, userid)
    if not unenrolled and putback:
        state.update_user_enrol(existing, **putback)
    after = history.enrolment_state(None) if unenrolled else history.enrolment_state(
        state.user_enrolment(manual['id'], userid) if manual else None)
    history.record(state, courseid, userid, run, before, after, rolesbefore, history.manual_roles(state, courseid, userid))
    return {'userid': userid, 'unenrolled': int(unenrolled), 'rolesunassigned': removed,
            'fieldsreverted': [key for key in ENROLMENT_FIELDS if key in putback]}


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
    if not state.plugin_enabled('manual'):
        raise plugin_error('manualplugindisabled', courseid)
    manual = [i for i in state.instances_of(courseid) if i['enrol'] == 'manual']
    if not manual:      # enable=0: the plugin's default status for new instances, which is enabled
        return {'instanceid': add_manual_instance(state, courseid), 'created': 1, 'enabled': 0}
    enabled = [i for i in manual if i['status'] == INSTANCE_ENABLED]
    if enabled:
        return {'instanceid': enabled[0]['id'], 'created': 0, 'enabled': 0}
    if enable:
        state.update('instances', manual[0]['id'], status=INSTANCE_ENABLED)
        return {'instanceid': manual[0]['id'], 'created': 0, 'enabled': 1}
    return {'instanceid': manual[0]['id'], 'created': 0, 'enabled': 0}
