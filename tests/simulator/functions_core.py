# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moodle core and enrol_manual web-service functions, with the answers the recordings show."""

from __future__ import annotations

import re

from .protocol import (DEFAULT, OPTIONAL, MoodleException, Multiple, Single, Value, XmlOnly,
                       invalid_parameter, missing_record)
from .registry import SITE_VERSIONS, function_version, ws_function
from .state import GUEST_USERID, SITE_COURSEID, UE_ACTIVE, UE_SUSPENDED

THEME_REVISION = 1795911856
COURSE_FILTERS = ('displayh5p', 'activitynames', 'mathjaxloader', 'emoticon', 'urltolink', 'mediaplugin')
COURSE_FORMAT_OPTIONS = (('hiddensections', 1), ('coursedisplay', 0), ('indentation', '1'))
COURSE_MANAGER_FIELDS = ('idnumber', 'legacyfiles', 'calendartype', 'timecreated', 'timemodified', 'requested',
                         'cacherev')
ADVANCED_FEATURES = (('usecomments', 1), ('usetags', 1), ('enablenotes', 1), ('messaging', 1), ('enableblogs', 1),
                     ('enablecompletion', 1), ('enablebadges', 1), ('messagingallusers', 0),
                     ('enablecustomreports', 1), ('enableglobalsearch', 0), ('mnet_dispatcher_mode', 0),
                     ('enablecompetencies', 1))
USER_DETAIL_FIELDS = ('id', 'username', 'firstname', 'lastname', 'fullname', 'email', 'department', 'idnumber',
                      'firstaccess', 'lastaccess', 'lastcourseaccess', 'city', 'country', 'profileimageurlsmall',
                      'profileimageurl', 'roles', 'enrolledcourses')
# userquota / usermaxuploadfilesize: site admins are unlimited (0 / -1, as recorded); anybody else gets
# $CFG->userquota and PHP's upload_max_filesize (seen on the live site: 100 MB and 2 MB).
ADMIN_FILE_LIMITS = (0, -1)
USER_FILE_LIMITS = (104857600, 2097152)
TYPEERROR_MESSAGE = ('core\\user::get_name_placeholders(): Argument #1 ($user) must be of type stdClass, bool given, '
                     'called in /var/www/moodle/lib/enrollib.php on line 3674')


def php_int(text):
    """PHP's (int) cast of a string: leading digits, else 0."""
    match = re.match(r'\s*(-?[0-9]+)', str(text))
    return int(match.group(1)) if match else 0


def fullname(user):
    """fullname(): first and last name."""
    return '%s %s' % (user['firstname'], user['lastname'])


def user_picture_url(ctx, size):
    """The default avatar URL (f1 large, f2 small)."""
    return '%s/theme/image.php/boost/core/%d/u/%s' % (ctx.base_url, THEME_REVISION, size)


# ----- core_webservice_get_site_info -------------------------------------------------
@ws_function('core_webservice_get_site_info',
             {'serviceshortnames': Multiple(Value('alphanumext'), mode=DEFAULT, default=[])})
def get_site_info(ctx, serviceshortnames):  # pylint: disable=unused-argument
    """Site and caller information, with the functions of the token's service."""
    user = ctx.state.user(ctx.token.userid)
    site = SITE_VERSIONS[ctx.version]
    quota, max_upload = ADMIN_FILE_LIMITS if ctx.is_site_admin else USER_FILE_LIMITS
    return {
        'sitename': ctx.state.site['name'], 'username': user['username'], 'firstname': user['firstname'],
        'lastname': user['lastname'], 'fullname': fullname(user), 'lang': 'en', 'userid': user['id'],
        'siteurl': ctx.base_url, 'userpictureurl': user_picture_url(ctx, 'f1'),
        'functions': [{'name': name, 'version': function_version(name, ctx.version)} for name in ctx.token.functions],
        'downloadfiles': 0, 'uploadfiles': 0, 'release': site['release'], 'version': site['version'],
        'mobilecssurl': '', 'advancedfeatures': [{'name': n, 'value': v} for n, v in ADVANCED_FEATURES],
        'usercanmanageownfiles': True, 'userquota': quota, 'usermaxuploadfilesize': max_upload, 'userhomepage': 1,
        'userprivateaccesskey': ctx.state.site.get('privateaccesskey', ''), 'siteid': SITE_COURSEID,
        'sitecalendartype': 'gregorian', 'usercalendartype': 'gregorian',
        'userissiteadmin': ctx.is_site_admin, 'theme': 'boost', 'limitconcurrentlogins': 0,
        'policyagreed': 0,
    }


# ----- core_course_get_courses_by_field ----------------------------------------------
def enrollment_methods(state, courseid):
    """Plugin names of the course's ENABLED instances by (sortorder, id), one per instance.

    Moodle: get_course_public_information() loops over enrol_get_instances($courseid, true).
    """
    return [instance['enrol'] for instance in state.instances_of(courseid, enabled_only=True)]


def course_answer(ctx, course):
    """One course as core_course_get_courses_by_field answers it (keys in Moodle's order)."""
    state = ctx.state
    category = state.tables['categories'].get(course['category'])
    answer = {
        'id': course['id'], 'fullname': course['fullname'], 'displayname': course['fullname'],
        'shortname': course['shortname'],
        'courseimage': '%s/pluginfile.php/%d/course/generated/course.svg' % (ctx.base_url, course['contextid']),
        'categoryid': course['category'], 'categoryname': category['name'] if category else '',
        'sortorder': course['sortorder'], 'summary': course['summary'],
        'summaryformat': course.get('summaryformat', 1), 'summaryfiles': [], 'overviewfiles': [],
        'showactivitydates': course['showactivitydates'],
        'showcompletionconditions': course.get('showcompletionconditions', True),
        'contacts': [{'id': u['id'], 'fullname': fullname(u)} for u in state.course_contacts(course['id'])],
        'enrollmentmethods': enrollment_methods(state, course['id']), 'customfields': XmlOnly([]),
        'idnumber': course['idnumber'], 'format': course.get('format', 'topics'), 'showgrades': 1,
        'newsitems': course.get('newsitems', 1),
        'startdate': course['startdate'], 'enddate': course['enddate'], 'maxbytes': 0, 'showreports': 0,
        'visible': course['visible'], 'groupmode': 0, 'groupmodeforce': 0, 'defaultgroupingid': 0,
        'enablecompletion': 0, 'completionnotify': 0, 'lang': '', 'theme': '', 'marker': 0, 'legacyfiles': 0,
        'calendartype': '', 'timecreated': course['timecreated'], 'timemodified': course['timemodified'],
        'requested': 0, 'cacherev': course['cacherev'],
        'filters': [{'filter': name, 'localstate': 0, 'inheritedstate': 1} for name in COURSE_FILTERS],
        'courseformatoptions': [{'name': n, 'value': v} for n, v in COURSE_FORMAT_OPTIONS],
        'communicationroomname': XmlOnly(None), 'communicationroomurl': XmlOnly(None),
    }
    if answer['format'] == 'site':      # the front page's format has no options: the key is left out
        del answer['courseformatoptions']
    if not ctx.has_capability('moodle/course:update'):
        for key in COURSE_MANAGER_FIELDS:
            answer[key] = XmlOnly(None)
    return answer


def courses_matching(state, field, value):
    """Courses selected by field/value, ordered by id; the site front page (course 1) included, as Moodle does."""
    front_page = [state.site['course']] if 'course' in state.site else []
    courses = front_page + sorted(state.tables['courses'].values(), key=lambda c: c['id'])
    if field == '':
        return courses
    if field in ('id', 'category'):
        wanted = php_int(value)
        return [c for c in courses if c[field] == wanted]
    if field == 'ids':
        ids = {php_int(part) for part in value.split(',') if part.strip()}
        return [c for c in courses if c['id'] in ids]
    if field in ('shortname', 'idnumber'):
        return [c for c in courses if c[field] == value]
    raise invalid_parameter()


@ws_function('core_course_get_courses_by_field',
             {'field': Value('alpha', DEFAULT, ''), 'value': Value('raw', DEFAULT, '')})
def get_courses_by_field(ctx, field, value):
    """Courses by id, ids, shortname, idnumber or category; unknown values give an empty list."""
    courses = courses_matching(ctx.state, field, value)
    return {'courses': [course_answer(ctx, c) for c in courses], 'warnings': []}


# ----- core_course_get_categories -------------------------------------------------------
CATEGORY_CRITERIA = ('id', 'ids', 'name', 'parent', 'idnumber', 'visible', 'theme')


def category_path(state, category):
    """The category's path of ids, e.g. '/1/4'."""
    path, current = [], category
    while current is not None:
        path.insert(0, current['id'])
        current = state.tables['categories'].get(current['parent'])
    return '/' + '/'.join(str(i) for i in path)


CATEGORY_MANAGER_FIELDS = ('idnumber', 'visible', 'visibleold', 'timemodified', 'theme')


def category_answer(state, category, can_manage):
    """One category as core_course_get_categories answers it; some fields only with moodle/category:manage."""
    path = category_path(state, category)
    coursecount = sum(1 for c in state.tables['courses'].values() if c['category'] == category['id'])
    answer = {'id': category['id'], 'name': category['name'], 'idnumber': category['idnumber'], 'description': '',
              'descriptionformat': category.get('descriptionformat', 1), 'parent': category['parent'],
              'sortorder': category['sortorder'], 'coursecount': coursecount, 'visible': category['visible'],
              'visibleold': category['visible'], 'timemodified': category.get('timemodified', 0),
              'depth': path.count('/'), 'path': path, 'theme': ''}
    if not can_manage:
        for key in CATEGORY_MANAGER_FIELDS:
            del answer[key]
    return answer


def criteria_error():
    """moodle_exception criteriaerror (its debuginfo names the criterion; shown only with debugging on)."""
    return MoodleException('moodle', 'criteriaerror', 'Missing permissions to search on a criterion.')


def require_searchable(ctx, criteria):
    """Criteria keys Moodle knows, and the capabilities some of them need."""
    needs = {'idnumber': 'moodle/category:manage', 'theme': 'moodle/category:manage',
             'visible': 'moodle/category:viewhiddencategories'}
    for criterion in criteria:
        key = criterion['key']
        if key not in CATEGORY_CRITERIA or (key in needs and not ctx.has_capability(needs[key])):
            raise criteria_error()


def category_matches(category, criteria):
    """Whether a category meets every {key, value} criterion."""
    for criterion in criteria:
        key, value = criterion['key'], criterion['value']
        if key == 'ids':
            if category['id'] not in {php_int(v) for v in value.split(',')}:
                return False
        elif key in ('id', 'parent', 'visible'):
            if category[key] != php_int(value):
                return False
        elif key in ('name', 'idnumber'):
            if category[key] != value:
                return False
        elif key == 'theme':
            if value != '':
                return False
    return True


@ws_function('core_course_get_categories',
             {'criteria': Multiple(Single({'key': Value('alpha'), 'value': Value('raw')}), DEFAULT, []),
              'addsubcategories': Value('bool', DEFAULT, 1)})
def get_categories(ctx, criteria, addsubcategories):
    """Categories matching every criterion, plus their subcategories when asked, by sortorder."""
    require_searchable(ctx, criteria)
    state = ctx.state
    categories = list(state.tables['categories'].values())
    chosen = {c['id'] for c in categories if category_matches(c, criteria)}
    if addsubcategories and criteria:
        paths = [category_path(state, state.tables['categories'][cid]) + '/' for cid in chosen]
        chosen |= {c['id'] for c in categories if any(category_path(state, c).startswith(p) for p in paths)}
    ordered = sorted((state.tables['categories'][cid] for cid in chosen), key=lambda c: (c['sortorder'], c['id']))
    can_manage = ctx.has_capability('moodle/category:manage')
    return [category_answer(state, c, can_manage) for c in ordered]


# ----- core_enrol_get_enrolled_users ------------------------------------------------------
def enrolled_user_ids(state, courseid, onlyactive, onlysuspended):
    """Undeleted users enrolled in the course: all, only active, or only not-active ones."""
    status = {}
    for ue in state.course_user_enrolments(courseid):
        status[ue['userid']] = status.get(ue['userid'], False) or state.is_active_enrolment(ue)
    users = state.tables['users']
    return [uid for uid, active in status.items() if not users[uid]['deleted']
            and (not onlyactive or active) and (not onlysuspended or not active)]


def user_roles_answer(state, courseid, userid):
    """roles[] of a user: one entry per course role assignment (role_assignments.sortorder is 0)."""
    roles = state.tables['roles']
    assignments = sorted(state.role_assignments(courseid, userid),
                         key=lambda ra: (roles[ra['roleid']]['sortorder'], ra['id']))
    return [{'roleid': ra['roleid'], 'name': '', 'shortname': roles[ra['roleid']]['shortname'], 'sortorder': 0}
            for ra in assignments]


def enrolled_courses_answer(state, userid):
    """enrolledcourses[]: courses where the user is actively enrolled, by visibility and sortorder."""
    ues, instances = state.tables['user_enrolments'], state.tables['instances']
    courseids = {instances[ues[ueid]['enrolid']]['courseid'] for ueid in state.ue_by_user.get(userid, ())
                 if state.is_active_enrolment(ues[ueid])}
    courses = sorted((state.course(cid) for cid in courseids), key=lambda c: (-c['visible'], c['sortorder']))
    return [{'id': c['id'], 'fullname': c['fullname'], 'shortname': c['shortname']} for c in courses]


def user_details(ctx, courseid, user, fields):
    """user_get_user_details() restricted to the given fields (id and fullname always)."""
    state = ctx.state
    values = {
        'id': lambda: user['id'], 'username': lambda: user['username'], 'firstname': lambda: user['firstname'],
        'lastname': lambda: user['lastname'], 'fullname': lambda: fullname(user), 'email': lambda: user['email'],
        'department': lambda: user.get('department', ''), 'idnumber': lambda: user.get('idnumber', ''),
        'firstaccess': lambda: 0, 'lastaccess': lambda: 0, 'lastcourseaccess': lambda: 0,
        'city': lambda: user.get('city', ''), 'country': lambda: user.get('country', ''),
        'profileimageurlsmall': lambda: user_picture_url(ctx, 'f2'),
        'profileimageurl': lambda: user_picture_url(ctx, 'f1'),
        'roles': lambda: user_roles_answer(state, courseid, user['id']),
        'enrolledcourses': lambda: enrolled_courses_answer(state, user['id']),
    }
    details = {}
    for field in USER_DETAIL_FIELDS:
        if field in ('id', 'fullname') or field in fields:
            value = values[field]()
            if field != 'enrolledcourses' or value:
                details[field] = value
    return details


ENROLLED_USERS_SORT = {'id': lambda u: u['id'], 'firstname': lambda u: (u['firstname'], u['id']),
                       'lastname': lambda u: (u['lastname'], u['id']), 'siteorder': lambda u: u['id']}


def enrolled_users_options(options):
    """Read core_enrol_get_enrolled_users options the way Moodle does (unknown names ignored)."""
    settings = {'onlyactive': False, 'onlysuspended': False, 'limitfrom': 0, 'limitnumber': 0,
                'userfields': USER_DETAIL_FIELDS, 'sortby': 'id', 'sortdirection': 'ASC'}
    for option in options:
        name, value = option['name'], option['value']
        if name in ('onlyactive', 'onlysuspended'):
            settings[name] = bool(php_int(value))
        elif name in ('limitfrom', 'limitnumber'):
            settings[name] = php_int(value)
        elif name == 'userfields':
            settings[name] = tuple(part.strip() for part in value.split(','))
        elif name == 'sortby' and value in ENROLLED_USERS_SORT:
            settings[name] = value
        elif name == 'sortdirection':
            settings[name] = 'DESC' if value.upper() == 'DESC' else 'ASC'
        elif name in ('withcapability', 'groupid') and value not in ('', '0'):
            raise MoodleException('moodle', 'simulatornotimplemented',
                                  'The Moodle simulator does not implement the option %s' % name)
    if settings['onlyactive'] and settings['onlysuspended']:
        raise MoodleException('moodle', 'bothonlyactiveandonlysuspended',
                              'You cannot use both onlyactive and onlysuspended at the same time.')
    return settings


@ws_function('core_enrol_get_enrolled_users',
             {'courseid': Value('int'),
              'options': Multiple(Single({'name': Value('alphanumext'), 'value': Value('raw')}), DEFAULT, [])})
def get_enrolled_users(ctx, courseid, options):
    """Users enrolled in a course with their course roles; no method, status or dates."""
    state = ctx.state
    if state.course(courseid) is None:
        raise missing_record('course')
    settings = enrolled_users_options(options)
    ctx.require_capability('moodle/course:viewparticipants')
    users = [state.user(uid) for uid in enrolled_user_ids(state, courseid, settings['onlyactive'],
                                                          settings['onlysuspended'])]
    users.sort(key=ENROLLED_USERS_SORT[settings['sortby']], reverse=settings['sortdirection'] == 'DESC')
    start = max(settings['limitfrom'], 0)
    users = users[start:start + settings['limitnumber']] if settings['limitnumber'] > 0 else users[start:]
    return [user_details(ctx, courseid, user, settings['userfields']) for user in users]


# ----- enrol_manual_enrol_users / enrol_manual_unenrol_users ------------------------------
def require_active_user(state, userid):
    """Moodle 5.x: core_user::get_user(MUST_EXIST) + core_user::require_active_user()."""
    user = state.user(userid)
    if user is None:
        raise missing_record()
    if user['deleted']:
        raise MoodleException('moodle', 'userdeleted', 'error/userdeleted')
    if not user['confirmed']:
        raise MoodleException('moodle', 'usernotconfirmed', 'error/usernotconfirmed')
    if userid == GUEST_USERID:
        raise MoodleException('moodle', 'guestsarenotallowed', 'The guest user is not allowed to do this')
    return user


def wsnoinstance(courseid):
    """enrol_manual's error for a course without an (enabled) manual instance."""
    return MoodleException('moodle', 'wsnoinstance',
                           "Manual enrolment plugin instance doesn't exist or is disabled for the course "
                           "(id = %d)" % courseid)


def send_welcome_if_due(ctx, instance, userid, source):
    """The after_user_enrolled welcome hook of enrol_manual (4.5 and 5.1).

    customint1 on: the message is built for the user (4.5: an unknown user is a PHP
    TypeError here) and sent when the course has a contact to send it from.
    """
    state = ctx.state
    if not instance['customint1']:
        return
    if state.user(userid) is None:
        raise MoodleException('TypeError', None, TYPEERROR_MESSAGE)
    contact = state.welcome_contact(instance['courseid'])
    if contact is not None:
        state.add_message({'courseid': instance['courseid'], 'userid': userid, 'instanceid': instance['id'],
                           'fromuserid': contact, 'source': source})


def manual_role_assign(state, roleid, userid, courseid):
    """role_assign() with component '' (manual enrolments are unprotected)."""
    user = state.user(userid)
    if user is None or user['deleted']:
        raise MoodleException('coding', 'codingerror', 'Coding error detected, it must be fixed by a programmer: '
                                                       'User ID does not exist or is deleted!')
    state.role_assign(roleid, userid, courseid)


ENROL_ROW = Single({'roleid': Value('int'), 'userid': Value('int'), 'courseid': Value('int'),
                    'timestart': Value('int', OPTIONAL), 'timeend': Value('int', OPTIONAL),
                    'suspend': Value('int', OPTIONAL)})


@ws_function('enrol_manual_enrol_users', {'enrolments': Multiple(ENROL_ROW)}, component='enrol_manual')
def enrol_users(ctx, enrolments):
    """Upsert manual enrolments, one transaction; omitted timestart/timeend/suspend mean 0/0/active."""
    state = ctx.state
    for row in enrolments:
        if ctx.since('5.0'):
            require_active_user(state, row['userid'])
        if state.course(row['courseid']) is None:
            raise invalid_parameter()
        ctx.require_capability('enrol/manual:enrol')
        if row['roleid'] not in ctx.assignable_roles():
            raise MoodleException('moodle', 'wsusercannotassign',
                                  "You don't have the permission to assign this role (%d) to this user (%d) in this "
                                  "course (%d)." % (row['roleid'], row['userid'], row['courseid']))
        instance = state.first_manual_instance(row['courseid'])
        if instance is None:
            raise wsnoinstance(row['courseid'])
        status = UE_SUSPENDED if row.get('suspend') else UE_ACTIVE
        state.enrol_user(instance, row['userid'], None, row.get('timestart', 0), row.get('timeend', 0), status)
        send_welcome_if_due(ctx, instance, row['userid'], 'enrol_manual_enrol_users')
        manual_role_assign(state, row['roleid'], row['userid'], row['courseid'])


UNENROL_ROW = Single({'userid': Value('int'), 'courseid': Value('int'), 'roleid': Value('int', OPTIONAL)})


@ws_function('enrol_manual_unenrol_users', {'enrolments': Multiple(UNENROL_ROW)}, component='enrol_manual')
def unenrol_users(ctx, enrolments):
    """Remove manual enrolments, one transaction; a user's last enrolment takes their course roles."""
    state = ctx.state
    for row in enrolments:
        if ctx.since('5.0'):
            require_active_user(state, row['userid'])
        if state.course(row['courseid']) is None:
            raise missing_record('course')
        ctx.require_capability('enrol/manual:unenrol')
        instance = state.first_manual_instance(row['courseid'], enabled_only=False)
        if instance is None:
            raise wsnoinstance(row['courseid'])
        if state.user(row['userid']) is None:
            raise invalid_parameter()
        state.unenrol_user(instance, row['userid'])
