# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building blocks for simulated sites, and the fixtures: empty, recorded, demo, bench."""

from __future__ import annotations

import secrets

from .registry import SITE_VERSIONS
from .state import ADMIN_USERID, EDITINGTEACHER, GUEST_USERID, INSTANCE_ENABLED, STUDENT, State

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


def add_category(state, name, idnumber='', parent=0, visible=1, categoryid=None):
    """Create a course category; return its id."""
    catid = state.insert('categories', {'id': categoryid, 'name': name, 'idnumber': idnumber, 'parent': parent,
                                        'visible': visible, 'sortorder': 0, 'timemodified': FIXED_TIMECREATED})
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


def add_instance(state, courseid, enrol, status=INSTANCE_ENABLED, roleid=STUDENT, customint1=None, name='',
                 sortorder=None):
    """Add an enrol instance; customint1 = cohort id (cohort) or welcome flag (manual, default on)."""
    if state.course(courseid) is None:
        raise ValueError('course %s does not exist' % courseid)
    if enrol == 'cohort' and customint1 not in state.cohort_members:
        raise ValueError('cohort instance needs customint1 = an existing cohort id')
    if customint1 is None:
        customint1 = 1 if enrol == 'manual' else 0
    if sortorder is None:
        sortorder = max((i['sortorder'] for i in state.instances_of(courseid)), default=-1) + 1
    return state.insert('instances', {'courseid': courseid, 'enrol': enrol, 'name': name, 'status': status,
                                      'roleid': roleid, 'customint1': customint1, 'sortorder': sortorder})


def enrol(state, instanceid, userid, roleid=None, status=0, timestart=0, timeend=0):
    """Enrol a user through an instance the way its plugin does (role component per plugin)."""
    instance = state.tables['instances'][instanceid]
    if state.user(userid) is None:
        raise ValueError('user %s does not exist' % userid)
    roleid = instance['roleid'] if roleid is None else roleid
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


def new_state(version, site_name='Moodle Simulator'):
    """A site with guest, admin and the default category."""
    if version not in SITE_VERSIONS:
        raise ValueError('version must be one of %s' % ', '.join(SITE_VERSIONS))
    state = State(version, site_name)
    state.site['privateaccesskey'] = secrets.token_hex(16)
    add_user(state, 'guest', 'Guest user', ' ', email='root@localhost', userid=GUEST_USERID)
    add_user(state, 'admin', 'Admin', 'User', email='admin@example.com', userid=ADMIN_USERID)
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
    """The fixture behind ../shared/moodle-ws (ids as the recordings show them).

    Users: 3 teacher01 'Teacher One', 4 teacher02 'Teacher Two', student0001-0040 = 5-44,
    student0101-0125 = 45-69, student0201-0224 = 70-93, student0301-0310 = 94-103,
    student1001-3000 = 104-2103. Courses in category 2 'Realmoodle fixtures':
    KA1 (2) manual+database: teachers 3, 4 and student0001-0030 via database;
    KA2 (3) manual+cohort: cohort 'KA2 students' = student0101-0125;
    KA3 (4) manual+database+cohort: 0201-0210 database, 0211-0218 cohort, 0219-0222 manual,
    0223-0224 manual suspended; KA4 (5) database only (0301-0310); BIG1 (6) manual+database, 2000 students.
    Every manual instance has the welcome message on (Moodle's default).
    """
    state = new_state(version, 'Real Moodle Test Site')
    add_user(state, 'teacher01', 'Teacher', 'One', userid=3, idnumber='ID-teacher01', city='Testcity', country='DE')
    add_user(state, 'teacher02', 'Teacher', 'Two', userid=4, idnumber='ID-teacher02', city='Testcity', country='DE')
    add_numbered_users(state, 'student', range(1, 41), first_id=5)
    add_numbered_users(state, 'student', range(101, 126), first_id=45)
    add_numbered_users(state, 'student', range(201, 225), first_id=70)
    add_numbered_users(state, 'student', range(301, 311), first_id=94)
    add_numbered_users(state, 'student', range(1001, 3001), first_id=104)
    category = add_category(state, 'Realmoodle fixtures', categoryid=2)
    _recorded_ka1(state, category)
    _recorded_ka2(state, category)
    _recorded_ka3(state, category)
    _recorded_ka4(state, category)
    _recorded_big1(state, category)
    return state


def _recorded_ka1(state, category):
    course = add_course(state, 'KA1', 'KA1 - 30 students + 2 teachers via external database', 'KA-2026-1',
                        category, courseid=2, sortorder=20005)
    add_instance(state, course, 'manual')
    database = add_instance(state, course, 'database')
    for teacher in (3, 4):
        enrol(state, database, teacher, EDITINGTEACHER)
    for userid in range(5, 35):
        enrol(state, database, userid)


def _recorded_ka2(state, category):
    course = add_course(state, 'KA2', 'KA2 - 25 students via cohort sync', 'KA-2026-2', category, courseid=3,
                        sortorder=20004)
    add_instance(state, course, 'manual')
    cohort = add_cohort(state, 'KA2 students', 'KA2-COHORT', members=range(45, 70))
    sync_cohort_instance(state, add_instance(state, course, 'cohort', customint1=cohort))


def _recorded_ka3(state, category):
    course = add_course(state, 'KA3', 'KA3 - mixed: database, cohort, manual, suspended', 'KA-2026-3', category,
                        courseid=4, sortorder=20003)
    manual = add_instance(state, course, 'manual')
    database = add_instance(state, course, 'database')
    cohort = add_cohort(state, 'KA3 students', 'KA3-COHORT', members=range(80, 88))
    sync_cohort_instance(state, add_instance(state, course, 'cohort', customint1=cohort))
    for userid in range(70, 80):
        enrol(state, database, userid)
    for userid in range(88, 92):
        enrol(state, manual, userid)
    for userid in (92, 93):
        enrol(state, manual, userid, status=1)


def _recorded_ka4(state, category):
    course = add_course(state, 'KA4', 'KA4 - external database, no manual instance', 'KA-2026-4', category,
                        courseid=5, sortorder=20002)
    database = add_instance(state, course, 'database')
    for userid in range(94, 104):
        enrol(state, database, userid)


def _recorded_big1(state, category):
    course = add_course(state, 'BIG1', 'BIG1 - 2000 students via external database', 'BIG-2026-1', category,
                        courseid=6, sortorder=20001)
    add_instance(state, course, 'manual')
    database = add_instance(state, course, 'database')
    enrol(state, database, 3, EDITINGTEACHER)
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
        _bench_course(state, category, teacher, 'BENCH-%04d' % number, [next(counter) for _ in range(students)])
    if big:
        _bench_course(state, category, teacher, 'BENCH-BIG', [next(counter) for _ in range(big)])
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
