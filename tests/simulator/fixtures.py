# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building blocks for simulated sites, and the fixtures: empty, recorded, demo, bench."""

from __future__ import annotations

import secrets

from .companion import service_account
from .registry import SITE_VERSIONS
from .state import (ADMIN_USERID, EDITINGTEACHER, GUEST_USERID, INSTANCE_DISABLED, INSTANCE_ENABLED,
                    PLUGIN_DEFAULT_ROLES, STUDENT, State)

FIXED_TIMECREATED = 1795912389
FIXED_CACHEREV = 1795912393
COURSE_CONTEXT_BASE = 2106          # the recorded site: course 2 has context 2108


# ----- building blocks (also behind the control API) -------------------------------------
def add_user(state, username, firstname='User', lastname=None, email=None, userid=None, **fields):
    """Create a user; return its id."""
    record = {'id': userid, 'username': username, 'firstname': firstname,
              'lastname': username if lastname is None else lastname,
              'email': email if email is not None else '%s@example.com' % username,
              'idnumber': '', 'department': '', 'city': '', 'country': '', 'auth': 'manual',
              'suspended': 0, 'deleted': 0, 'confirmed': 1}
    unknown = set(fields) - set(record)
    if unknown:
        raise ValueError('unknown user fields: %s' % ', '.join(sorted(unknown)))
    if username in state.username_ids:
        raise ValueError('username %r exists' % username)
    record.update(fields)
    return state.insert('users', record)


def add_category(state, name, idnumber='', parent=0, visible=1, categoryid=None, descriptionformat=1):
    """Create a course category; return its id."""
    catid = state.insert('categories', {'id': categoryid, 'name': name, 'idnumber': idnumber, 'parent': parent,
                                        'visible': visible, 'sortorder': 0, 'timemodified': FIXED_TIMECREATED,
                                        'descriptionformat': descriptionformat})
    state.update('categories', catid, sortorder=catid * 10000)
    return catid


def add_course(state, shortname, fullname=None, idnumber='', category=1, visible=1, courseid=None,
               sortorder=None, summary=None):
    """Create a course (no enrol instances); return its id."""
    if any(c['shortname'] == shortname for c in state.tables['courses'].values()):
        raise ValueError('shortname %r exists' % shortname)
    if category not in state.tables['categories']:
        raise ValueError('category %s does not exist' % category)
    fullname = shortname if fullname is None else fullname
    courseid = state.insert('courses', {
        'id': courseid if courseid is not None else max(2, state.next_ids['courses']),
        'shortname': shortname, 'fullname': fullname, 'idnumber': idnumber, 'category': category,
        'visible': visible, 'summary': fullname if summary is None else summary, 'sortorder': 0,
        'startdate': 1767225600, 'enddate': 1798675200, 'timecreated': FIXED_TIMECREATED,
        'timemodified': FIXED_TIMECREATED, 'cacherev': FIXED_CACHEREV,
        'showactivitydates': SITE_VERSIONS[state.version]['showactivitydates'], 'contextid': 0})
    if sortorder is None:
        in_category = sum(1 for c in state.tables['courses'].values() if c['category'] == category)
        sortorder = state.tables['categories'][category]['sortorder'] + in_category
    state.update('courses', courseid, sortorder=sortorder, contextid=COURSE_CONTEXT_BASE + courseid)
    return courseid


# Instance defaults of each plugin's add_instance() on the live Moodle 4.5 site: guest and database
# keep roleid 0 (database enrols with its `defaultrole`), the others the student role.
INSTANCE_DEFAULT_ROLES = {'manual': STUDENT, 'self': STUDENT, 'cohort': STUDENT, 'guest': 0, 'database': 0}


def add_instance(state, courseid, enrol, status=INSTANCE_ENABLED, roleid=None, customint1=None, name='',
                 sortorder=None, instanceid=None):
    """Add an enrol instance; customint1 = cohort id (cohort) or welcome flag (manual, default on)."""
    if state.course(courseid) is None:
        raise ValueError('course %s does not exist' % courseid)
    if enrol == 'cohort' and customint1 not in state.cohort_members:
        raise ValueError('cohort instance needs customint1 = an existing cohort id')
    if customint1 is None:
        customint1 = 1 if enrol == 'manual' else 0
    if roleid is None:
        roleid = INSTANCE_DEFAULT_ROLES.get(enrol, STUDENT)
    if sortorder is None:
        sortorder = max((i['sortorder'] for i in state.instances_of(courseid)), default=-1) + 1
    return state.insert('instances', {'id': instanceid, 'courseid': courseid, 'enrol': enrol, 'name': name,
                                      'status': status, 'roleid': roleid, 'customint1': customint1,
                                      'sortorder': sortorder})


def add_default_instances(state, courseid, first_instanceid=None):
    """What create_course() adds (enrol_plugins' add_default_instance): manual (enabled, welcome on),
    guest and self (both disabled); return their ids."""
    ids = []
    for offset, (enrol, status) in enumerate((('manual', INSTANCE_ENABLED), ('guest', INSTANCE_DISABLED),
                                              ('self', INSTANCE_DISABLED))):
        ids.append(add_instance(state, courseid, enrol, status=status,
                                instanceid=None if first_instanceid is None else first_instanceid + offset))
    return ids


def enrol(state, instanceid, userid, roleid=None, status=0, timestart=0, timeend=0):
    """Enrol a user through an instance the way its plugin does (role component per plugin)."""
    instance = state.tables['instances'][instanceid]
    if state.user(userid) is None:
        raise ValueError('user %s does not exist' % userid)
    if roleid is None:
        roleid = instance['roleid'] or PLUGIN_DEFAULT_ROLES.get(instance['enrol'], 0)
    return state.enrol_user(instance, userid, roleid, timestart, timeend, status)[0]


def add_cohort(state, name, idnumber='', members=(), cohortid=None):
    """Create a cohort with members; return its id."""
    cohortid = state.insert('cohorts', {'id': cohortid, 'name': name, 'idnumber': idnumber})
    for userid in members:
        state.set_cohort_member(cohortid, userid, True)
    return cohortid


def sync_cohort_instance(state, instanceid):
    """enrol_cohort's sync: enrol every cohort member through the instance."""
    instance = state.tables['instances'][instanceid]
    for userid in sorted(state.cohort_members[instance['customint1']]):
        if state.user_enrolment(instanceid, userid) is None:
            enrol(state, instanceid, userid)


def add_role(state, shortname, name, capabilities=(), allowassign=(), roleid=None):
    """Create a custom role (system context level) with allowed capabilities and assignable roles."""
    if any(r['shortname'] == shortname for r in state.tables['roles'].values()):
        raise ValueError('role %r exists' % shortname)
    sortorder = max(r['sortorder'] for r in state.tables['roles'].values()) + 1
    return state.insert('roles', {'id': roleid, 'shortname': shortname, 'name': name, 'sortorder': sortorder,
                                  'capabilities': list(capabilities), 'allowassign': list(allowassign)})


def assign_system_role(state, roleid, userid):
    """role_assign() in the system context (nothing if it exists)."""
    for ra in state.tables['system_role_assignments'].values():
        if (ra['roleid'], ra['userid']) == (roleid, userid):
            return ra['id']
    return state.insert('system_role_assignments', {'userid': userid, 'roleid': roleid})


def role_id(state, shortname):
    """The id of the role with this shortname, or None."""
    return next((r['id'] for r in state.tables['roles'].values() if r['shortname'] == shortname), None)


def add_service_user(state, assignable_roles=None, userid=None):
    """What local_keepaccess's cli/create_service_user.php sets up, read from the plugin's source: the
    user, the system role with the least capabilities the service needs, the roles it may assign in
    courses (Define roles > Allow role assignments). Existing pieces are reused; return the user id."""
    account = service_account()
    assignable = account['assignable_roles'] if assignable_roles is None else tuple(assignable_roles)
    unknown = [shortname for shortname in assignable if role_id(state, shortname) is None]
    if unknown:
        raise ValueError('unknown roles: %s' % ', '.join(unknown))
    roleid = role_id(state, account['role_shortname'])
    if roleid is None:
        roleid = add_role(state, account['role_shortname'], account['role_name'], account['capabilities'])
    role = state.tables['roles'][roleid]
    wanted = [role_id(state, shortname) for shortname in assignable]
    added = [target for target in wanted if target not in role['allowassign']]
    state.update('roles', roleid, allowassign=role['allowassign'] + added)
    serviceuser = state.username_ids.get(account['username'])
    if serviceuser is None:
        serviceuser = add_user(state, account['username'], account['firstname'], account['lastname'],
                               email=account['username'] + account['email_domain'], userid=userid)
    assign_system_role(state, roleid, serviceuser)
    return serviceuser


SITE_CONTEXTID = 2


def site_course(version, fullname, shortname):
    """The site front page (course 1, format 'site'), as course answers show it (seen on the live site)."""
    return {'id': 1, 'shortname': shortname, 'fullname': fullname, 'idnumber': '', 'category': 0, 'visible': 1,
            'summary': '', 'summaryformat': 0, 'sortorder': 1, 'startdate': 0, 'enddate': 0, 'format': 'site',
            'newsitems': 3, 'showcompletionconditions': None, 'timecreated': FIXED_TIMECREATED,
            'timemodified': FIXED_TIMECREATED, 'cacherev': FIXED_CACHEREV,
            'showactivitydates': SITE_VERSIONS[version]['showactivitydates'], 'contextid': SITE_CONTEXTID}


def new_state(version, site_name='Moodle Simulator', site_shortname='moodle'):
    """A site with its front page, guest, admin and the default category."""
    if version not in SITE_VERSIONS:
        raise ValueError('version must be one of %s' % ', '.join(SITE_VERSIONS))
    state = State(version, site_name)
    state.site['privateaccesskey'] = secrets.token_hex(16)
    state.site['course'] = site_course(version, site_name, site_shortname)
    add_user(state, 'guest', 'Guest user', ' ', email='root@localhost', userid=GUEST_USERID)
    add_user(state, 'admin', 'Admin', 'User', email='admin@example.invalid', userid=ADMIN_USERID)
    add_category(state, 'Category 1', categoryid=1)
    return state


def add_numbered_users(state, prefix, numbers, first_id=None, city='Testcity', country='DE'):
    """Users prefixNNNN 'Student NNNN' (recorded style); return their ids in order."""
    ids = []
    for offset, number in enumerate(numbers):
        username = '%s%04d' % (prefix, number)
        ids.append(add_user(state, username, 'Student', '%04d' % number,
                            userid=None if first_id is None else first_id + offset,
                            idnumber='ID-' + username, city=city, country=country))
    return ids


# ----- fixtures -----------------------------------------------------------------------
def empty_fixture(version):
    """Guest, admin, one category, no courses."""
    return new_state(version)


def recorded_fixture(version):
    """The live fixture (tests/live/build_fixture.php) on the site behind ../shared/moodle-ws, ids as there.

    Users: 3 teacher01 'Teacher One', 4 teacher02 'Teacher Two', student0001-0040 = 5-44,
    student0101-0125 = 45-69, student0201-0224 = 70-93, student0301-0310 = 94-103,
    student2001-4000 = 104-2103, the service user keepaccess_ws = 2104 (role keepaccess_ws, may
    assign student, teacher, editingteacher). Every course has the instances create_course() adds
    (manual, guest and self disabled; instance ids as on the live site), then:
    KA1 (2) database: teachers 3, 4 (editingteacher) and student0001-0030;
    KA2 (3) cohort KA2-COHORT = student0101-0125;
    KA3 (4) database 0201-0210, 0220-0222; cohort KA3-COHORT 0211-0215, 0220; manual 0216-0219 and
    0222 active, 0221 (active via database), 0223, 0224 suspended;
    KA4 (5) database only (0301-0310), its manual instance deleted; BIG1 (6) database, 2000 students.

    Where the recordings and the live site differ, the recordings win (they are what
    tests/unit/test_recordings_replay.py replays): the site name, the category name, the course
    context ids (courseimage URLs), and that student0221/0222 hold only one role assignment in KA3
    (the recorded core_enrol_get_enrolled_users page lists one role each; the live site also gives
    them a manual student role). tests/simulator/recorded_live/ pins the live facts.
    """
    # recordings win for the site name (live: 'KeepAccess test Moodle 4.5'); the front page's shortname is live's
    state = new_state(version, 'Real Moodle Test Site', 'KA45')
    state.site['timezone'] = 'Europe/London'
    add_user(state, 'teacher01', 'Teacher', 'One', userid=3, idnumber='ID-teacher01', city='Testcity', country='DE')
    add_user(state, 'teacher02', 'Teacher', 'Two', userid=4, idnumber='ID-teacher02', city='Testcity', country='DE')
    add_numbered_users(state, 'student', range(1, 41), first_id=5)
    add_numbered_users(state, 'student', range(101, 126), first_id=45)
    add_numbered_users(state, 'student', range(201, 225), first_id=70)
    add_numbered_users(state, 'student', range(301, 311), first_id=94)
    add_numbered_users(state, 'student', range(2001, 4001), first_id=104)
    add_service_user(state, userid=2104)
    # recordings win for the name (live: 'cemu.moodle live fixtures'); the idnumber is the live one
    category = add_category(state, 'Realmoodle fixtures', 'KEEPACCESS-LIVE-FIXTURES', categoryid=2,
                            descriptionformat=0)
    _recorded_ka1(state, category)
    _recorded_ka2(state, category)
    _recorded_ka3(state, category)
    _recorded_ka4(state, category)
    _recorded_big1(state, category)
    return state


def _recorded_course(state, courseid, shortname, fullname, idnumber, category, first_instanceid):
    """A live fixture course with create_course()'s default instances; return (courseid, manual instance id)."""
    course = add_course(state, shortname, fullname, idnumber, category, courseid=courseid,
                        sortorder=20007 - courseid)
    return course, add_default_instances(state, course, first_instanceid)[0]


def _recorded_ka1(state, category):
    course, dummy = _recorded_course(state, 2, 'KA1', 'KA1 - 30 students + 2 teachers via external database',
                                     'KA-2026-1', category, 1)
    database = add_instance(state, course, 'database', instanceid=4)
    for teacher in (3, 4):
        enrol(state, database, teacher, EDITINGTEACHER)
    for userid in range(5, 35):
        enrol(state, database, userid)


def _recorded_ka2(state, category):
    course, dummy = _recorded_course(state, 3, 'KA2', 'KA2 - 25 students via cohort sync', 'KA-2026-2', category, 5)
    cohort = add_cohort(state, 'KA2-COHORT', 'KA2-COHORT', members=range(45, 70))
    sync_cohort_instance(state, add_instance(state, course, 'cohort', customint1=cohort, instanceid=8))


def _recorded_ka3(state, category):
    """In build_fixture.php's order (it decides which of a user's rows comes first): the manual
    enrolments, then the cohort instance (synced at once), then the database sync."""
    course, manual = _recorded_course(state, 4, 'KA3', 'KA3 - mixed: database, cohort, manual, suspended',
                                      'KA-2026-3', category, 9)
    for userid in range(85, 89):
        enrol(state, manual, userid)
    # student0221 (90): suspended manual, student0222 (91): active manual, both also via database; the
    # recordings show one role for each, so their manual enrolments carry no manual role here.
    enrol(state, manual, 90, roleid=0, status=1)
    enrol(state, manual, 91, roleid=0)
    for userid in (92, 93):
        enrol(state, manual, userid, status=1)
    database = add_instance(state, course, 'database', instanceid=12)
    cohort = add_cohort(state, 'KA3-COHORT', 'KA3-COHORT', members=list(range(80, 85)) + [89])
    sync_cohort_instance(state, add_instance(state, course, 'cohort', customint1=cohort, instanceid=13))
    for userid in list(range(70, 80)) + [89, 90, 91]:
        enrol(state, database, userid)


def _recorded_ka4(state, category):
    course, manual = _recorded_course(state, 5, 'KA4', 'KA4 - external database only, no manual enrolment instance',
                                      'KA-2026-4', category, 14)
    state.delete('instances', manual)           # build_fixture.php deletes KA4's manual instance (id 14)
    database = add_instance(state, course, 'database', instanceid=17)
    for userid in range(94, 104):
        enrol(state, database, userid)


def _recorded_big1(state, category):
    course, dummy = _recorded_course(state, 6, 'BIG1', 'BIG1 - 2000 students via external database',
                                     'KA-2026-BIG1', category, 18)
    database = add_instance(state, course, 'database', instanceid=21)
    for userid in range(104, 2104):
        enrol(state, database, userid)


def demo_fixture(version):
    """A small site for the demo: two categories, two teachers, four courses.

    DB101 fed by the external database; COH201 by cohort sync; MIX301 mixed
    (database, cohort, manual-only, one suspended manual student, one student
    both database and manual); NOM401 database-only without a manual instance.
    """
    state = new_state(version, 'Moodle Simulator (demo)')
    science = add_category(state, 'Science', 'SCI')
    humanities = add_category(state, 'Humanities', 'HUM')
    teacher1 = add_user(state, 'teacher01', 'Teacher', 'One')
    teacher2 = add_user(state, 'teacher02', 'Teacher', 'Two')
    students = add_numbered_users(state, 'student', range(1, 41))
    course = add_course(state, 'DB101', 'Databases 101 (external database)', 'DEMO-DB101', science)
    database = add_instance(state, course, 'database', sortorder=1)
    add_instance(state, course, 'manual', sortorder=0)
    enrol(state, database, teacher1, EDITINGTEACHER)
    for userid in students[0:12]:
        enrol(state, database, userid)
    course = add_course(state, 'COH201', 'Cohorts 201 (cohort sync)', 'DEMO-COH201', humanities)
    add_instance(state, course, 'manual')
    cohort = add_cohort(state, 'Year 2026', 'Y2026', members=students[12:22])
    sync_cohort_instance(state, add_instance(state, course, 'cohort', customint1=cohort))
    enrol(state, state.first_manual_instance(course)['id'], teacher2, EDITINGTEACHER)
    _demo_mixed(state, science, teacher1, students)
    course = add_course(state, 'NOM401', 'No manual 401 (database only)', 'DEMO-NOM401', humanities)
    database = add_instance(state, course, 'database')
    enrol(state, database, teacher2, EDITINGTEACHER)
    for userid in students[36:40]:
        enrol(state, database, userid)
    return state


def _demo_mixed(state, category, teacher, students):
    course = add_course(state, 'MIX301', 'Mixed 301 (database, cohort, manual)', 'DEMO-MIX301', category)
    manual = add_instance(state, course, 'manual')
    database = add_instance(state, course, 'database')
    cohort = add_cohort(state, 'Exchange students', 'EXCH', members=students[28:32])
    sync_cohort_instance(state, add_instance(state, course, 'cohort', customint1=cohort))
    enrol(state, database, teacher, EDITINGTEACHER)
    for userid in students[22:28]:
        enrol(state, database, userid)
    for userid in students[32:35]:
        enrol(state, manual, userid)
    enrol(state, manual, students[35], status=1)
    enrol(state, manual, students[22], timestart=1767225600)


def bench_fixture(version, courses=10, students=30, big=20000):
    """`courses` courses of `students` database-enrolled students each, plus BENCH-BIG with `big`.

    Every course has a manual instance (welcome on) and a database instance and one
    editing teacher; users are benchNNNNNN, distinct per course.
    """
    state = new_state(version, 'Moodle Simulator (bench)')
    category = add_category(state, 'Benchmark', 'BENCH')
    teacher = add_user(state, 'benchteacher', 'Bench', 'Teacher')
    counter = iter(range(1, courses * students + big + 1))
    for number in range(1, courses + 1):
        _bench_course(state, category, teacher, 'BENCH-%04d' % number, [next(counter) for _student in range(students)])
    if big:
        _bench_course(state, category, teacher, 'BENCH-BIG', [next(counter) for _student in range(big)])
    return state


def _bench_course(state, category, teacher, shortname, numbers):
    course = add_course(state, shortname, 'Benchmark course %s' % shortname, shortname, category)
    add_instance(state, course, 'manual')
    database = add_instance(state, course, 'database')
    enrol(state, database, teacher, EDITINGTEACHER)
    for number in numbers:
        username = 'bench%06d' % number
        userid = add_user(state, username, 'Bench', '%06d' % number)
        enrol(state, database, userid)


FIXTURES = {'empty': empty_fixture, 'recorded': recorded_fixture, 'demo': demo_fixture, 'bench': bench_fixture}


def build(fixture, version, **options):
    """Build a fixture's state."""
    if fixture not in FIXTURES:
        raise ValueError('fixture must be one of %s' % ', '.join(FIXTURES))
    return FIXTURES[fixture](version, **options)
