# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two divergences from Moodle's own procedure seen on a real Moodle 4.5, through the real playbook.

Run as a new user would: ``ansible-playbook cemu.moodle.keep_access`` with the least-privilege token
that local_keepaccess's create_service_user.php makes (it may assign student, teacher and
editingteacher only), against the simulator:

- OUT1: a former student's manual enrolment, active but ended a month ago (last year's conversion),
  next to this year's database students. Step 3 of the manual procedure selects "Status: Active" in
  Participants, which does not list a user whose only enrolment has ended: the former student must
  not get the new end date (access would come back).
- OUT2: a database enrolment carrying the role manager next to the students'. Moodle's restore skips,
  for that user only, a role the restoring user may not assign; the course is converted and the
  skipped role reported, never a failed course.
"""

import datetime
import time
import zoneinfo

import pytest

from tests.demo import runner
from tests.simulator import Simulator

END = datetime.date(datetime.date.today().year + 1, 6, 30)
ZONE = zoneinfo.ZoneInfo('Europe/Berlin')   # the simulated site's time zone
END_UNIX = int(datetime.datetime.combine(END, datetime.time(23, 59, 59), ZONE).timestamp())
ADMIN_TOKEN = 'outcome-admin-token-000000000001'
SERVICE_TOKEN = 'outcome-service-token-0000000001'
MANAGER, STUDENT = 1, 5


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('outcome')
    sim = Simulator(version='4.5', fixture='empty', token=ADMIN_TOKEN).start()
    users = build_courses(sim)
    sim.add_service_token(SERVICE_TOKEN)
    inventory = str(tmp / 'inventory')
    runner.write_site(inventory, sim.url, 'site', SERVICE_TOKEN, {
        'keep_access_end': END.isoformat(),
        'keep_access_backup_dir': str(tmp / 'backups'),
    }, extra={'shortname_pattern': '^OUT[12]$'})
    runs = {}
    for name, args in (('check', ('--check', '--diff')), ('real', ())):
        report_dir = str(tmp / 'reports' / name)
        code, output = runner.run_playbook(inventory, '-e', 'keep_access_report_dir=' + report_dir, *args)
        runs[name] = {'code': code, 'output': output, 'report': runner.load_report(report_dir)}
    yield {'sim': sim, 'users': users, 'runs': runs}
    sim.stop()


def build_courses(sim):
    month_ago = int(time.time()) - 30 * 86400
    users = {}
    out1 = sim.add_course('OUT1')
    manual, database = sim.add_instance(out1, 'manual'), sim.add_instance(out1, 'database')
    for name in ('out1-s1', 'out1-s2'):
        users[name] = sim.add_user(name)
        sim.enrol(database, users[name], STUDENT)
    users['out1-former'] = sim.add_user('out1-former')
    sim.enrol(manual, users['out1-former'], STUDENT, timestart=month_ago - 300 * 86400, timeend=month_ago)
    out2 = sim.add_course('OUT2')
    sim.add_instance(out2, 'manual')
    database = sim.add_instance(out2, 'database')
    for name in ('out2-s1', 'out2-s2', 'out2-s3'):
        users[name] = sim.add_user(name)
        sim.enrol(database, users[name], STUDENT)
    users['out2-boss'] = sim.add_user('out2-boss')
    sim.enrol(database, users['out2-boss'], MANAGER)
    return users


def manual_of(world, shortname):
    """{username: (status, timestart, timeend, manual role shortnames)} of the course's manual enrolments."""
    sim = world['sim']
    courseid = next(c['id'] for c in sim.state.tables['courses'].values() if c['shortname'] == shortname)
    answer = sim.course_enrolments(courseid)
    manual = set(i['id'] for i in answer['instances'] if i['enrol'] == 'manual')
    roles = {}
    for ra in answer['roleassignments']:
        if ra['component'] == '':
            roles.setdefault(ra['userid'], []).append(ra['roleshortname'])
    return dict((ue['username'], (ue['status'], ue['timestart'], ue['timeend'], sorted(roles.get(ue['userid'], []))))
                for ue in answer['userenrolments'] if ue['enrolid'] in manual)


def course_record(world, run, shortname):
    return next(c for c in world['runs'][run]['report']['courses'] if c['course'] == shortname)


def test_an_expired_former_student_is_not_given_the_new_end(world):
    manual = manual_of(world, 'OUT1')
    assert manual['out1-former'][2] < time.time(), 'the former student still ends a month ago'
    assert manual['out1-s1'][2] == manual['out1-s2'][2] == END_UNIX
    record = course_record(world, 'real', 'OUT1')
    assert (record['status'], record['converted'], record['end_dates_set']) == ('changed', 2, 2)


def test_a_manager_database_enrolment_converts_the_course_and_reports_the_skipped_role(world):
    real = world['runs']['real']
    assert real['code'] == 0, real['output'][-3000:]
    manual = manual_of(world, 'OUT2')
    assert sorted(manual) == ['out2-boss', 'out2-s1', 'out2-s2', 'out2-s3']
    assert all(manual[name][3] == ['student'] for name in ('out2-s1', 'out2-s2', 'out2-s3'))
    assert manual['out2-boss'][3] == [], 'the service user may not assign manager: no manual copy'
    record = course_record(world, 'real', 'OUT2')
    assert (record['status'], record['converted'], record['end_dates_set']) == ('changed', 4, 3)
    assert record['skipped'] == [{'username': 'out2-boss', 'reason': 'role_not_assignable', 'role': 'manager'}]
    assert 'role_not_assignable manager: 1' in real['output']


def test_the_dry_run_reports_the_same_per_course(world):
    for shortname in ('OUT1', 'OUT2'):
        check, real = (course_record(world, run, shortname) for run in ('check', 'real'))
        assert [check[k] for k in ('status', 'converted', 'end_dates_set', 'skipped')] == \
            [real[k] for k in ('status', 'converted', 'end_dates_set', 'skipped')], shortname
