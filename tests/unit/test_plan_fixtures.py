# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small builders for course-enrolment answers, shared by the plan and module tests (no tests here)."""

MANUAL, DATABASE, COHORT, DISABLED_MANUAL = 10, 12, 13, 9
MANAGER, TEACHER, STUDENT = 1, 3, 5
ENROL_OF = {MANUAL: 'manual', DATABASE: 'database', COHORT: 'cohort', DISABLED_MANUAL: 'manual'}
ROLES = [{'id': MANAGER, 'shortname': 'manager', 'name': 'Manager'},
         {'id': TEACHER, 'shortname': 'editingteacher', 'name': 'Teacher'},
         {'id': STUDENT, 'shortname': 'student', 'name': 'Student'}]
SITE = {'url': 'https://moodle.example.edu', 'release': '4.5 (Build: 20241007)', 'siteid': 1}
COURSE = {'id': 2, 'shortname': 'KA1', 'idnumber': 'KA-2026-1', 'fullname': 'Keep access 1'}


def instance(iid, status=0):
    return {'id': iid, 'enrol': ENROL_OF[iid], 'name': '', 'status': status, 'roleid': STUDENT,
            'cohortid': 7 if iid == COHORT else 0, 'sendwelcome': 0}


def ue(userid, enrolid, status=0, timestart=0, timeend=0, deleted=0, username=None):
    return {'id': userid * 100 + enrolid, 'enrolid': enrolid, 'enrol': ENROL_OF[enrolid], 'userid': userid,
            'username': username or 'user%d' % userid, 'status': status, 'timestart': timestart,
            'timeend': timeend, 'usersuspended': 0, 'userdeleted': deleted}


def ra(userid, roleid, enrolid=None):
    """A role assignment: manual (component '') without enrolid, else the enrol plugin's."""
    if enrolid is None:
        return {'id': userid * 10 + roleid, 'userid': userid, 'roleid': roleid, 'roleshortname': '',
                'component': '', 'itemid': 0}
    return {'id': userid * 1000 + roleid, 'userid': userid, 'roleid': roleid, 'roleshortname': '',
            'component': 'enrol_' + ENROL_OF[enrolid], 'itemid': enrolid}


def inherited_ra(userid, roleid, contextlevel=40):
    """A role assignment in a parent context of the course (category by default)."""
    return {'id': 900000 + userid * 10 + roleid, 'userid': userid, 'roleid': roleid, 'roleshortname': '',
            'contextid': 7 if contextlevel == 40 else 1, 'contextlevel': contextlevel}


def answer(userenrolments=(), roleassignments=(), instances=None, timezone='Europe/Berlin', inherited=None):
    return {
        'course': dict(COURSE),
        'instances': instances if instances is not None else [instance(MANUAL), instance(DATABASE),
                                                              instance(COHORT)],
        'userenrolments': list(userenrolments),
        'roleassignments': list(roleassignments),
        'roles': ROLES,
        'timezone': timezone,
        'pluginversion': 2026112900,
        'nextfromuserid': 0,
        **({'inheritedroleassignments': list(inherited)} if inherited is not None else {}),
    }


def apply_rows(course_answer, rows, manual_id=MANUAL):
    """What local_keepaccess_apply_manual_enrolments does to an answer (for idempotence checks)."""
    for row in rows:
        existing = [u for u in course_answer['userenrolments']
                    if u['userid'] == row['userid'] and u['enrolid'] == manual_id]
        if existing:
            existing[0].update((k, row[k]) for k in ('status', 'timestart', 'timeend') if k in row)
        else:
            course_answer['userenrolments'].append(ue(row['userid'], manual_id, row.get('status', 0),
                                                      row.get('timestart', 0), row.get('timeend', 0)))
        held = set(a['roleid'] for a in course_answer['roleassignments']
                   if a['userid'] == row['userid'] and a['component'] == '')
        course_answer['roleassignments'].extend(ra(row['userid'], r) for r in row.get('roleids', [])
                                                if r not in held)
    return course_answer


def remove_rows(course_answer, rows, manual_id=MANUAL):
    """What local_keepaccess_remove_manual_enrolments does to an answer."""
    for row in rows:
        unassign = set(row.get('roleids', []))
        course_answer['roleassignments'] = [
            a for a in course_answer['roleassignments']
            if not (a['userid'] == row['userid'] and a['component'] == '' and a['roleid'] in unassign)]
        if row.get('unenrol'):
            course_answer['userenrolments'] = [
                u for u in course_answer['userenrolments']
                if not (u['userid'] == row['userid'] and u['enrolid'] == manual_id)]
    return course_answer
