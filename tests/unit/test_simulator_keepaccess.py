# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's local_keepaccess functions (docs/design.md) and its demo and bench fixtures."""

from __future__ import annotations

import pytest

from tests.simulator import Simulator
from tests.simulator.client import call

T0, T1, T2 = 1767225600, 1798675200, 1800000000


@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='demo', token='katoken').start()
    yield sim
    sim.stop()


class Demo:
    """The demo fixture's courses, looked up by shortname."""

    def __init__(self, sim):
        sim.reset('demo', '4.5')
        self.sim = sim
        courses = call(sim.url, sim.token, 'core_course_get_courses_by_field')['courses']
        self.ids = {c['shortname']: c['id'] for c in courses if c['format'] != 'site'}

    def call(self, function, **params):
        return call(self.sim.url, self.sim.token, function, params)

    def enrolments(self, shortname, **paging):
        return self.call('local_keepaccess_get_course_enrolments', courseid=self.ids[shortname], **paging)

    def apply(self, shortname, rows, **params):
        return self.call('local_keepaccess_apply_manual_enrolments', courseid=self.ids[shortname],
                         enrolments=rows, **params)

    def manual_rows(self, shortname):
        answer = self.enrolments(shortname)
        return {ue['userid']: (ue['status'], ue['timestart'], ue['timeend'])
                for ue in answer['userenrolments'] if ue['enrol'] == 'manual'}

    def users_of(self, shortname, enrol):
        """Students (role 5 holders) enrolled through the given method."""
        answer = self.enrolments(shortname)
        students = {ra['userid'] for ra in answer['roleassignments'] if ra['roleid'] == 5}
        return sorted(ue['userid'] for ue in answer['userenrolments']
                      if ue['enrol'] == enrol and ue['userid'] in students)


@pytest.fixture
def demo(server):
    return Demo(server)


# ----- get_course_enrolments ----------------------------------------------------------------
def test_mixed_course_answer_shape(demo):
    answer = demo.enrolments('MIX301')
    assert set(answer) == {'course', 'instances', 'userenrolments', 'roleassignments', 'inheritedroleassignments',
                           'roles', 'assignableroles', 'timezone', 'pluginversion', 'nextfromuserid'}
    assert [(i['enrol'], i['sendwelcome'], bool(i['cohortid'])) for i in answer['instances']] == [
        ('manual', 1, False), ('database', 0, False), ('cohort', 0, True)]
    assert answer['course']['idnumber'] == 'DEMO-MIX301' and answer['nextfromuserid'] == 0
    assert (answer['timezone'], answer['pluginversion']) == ('Europe/Berlin', 2026120200)
    assert (answer['inheritedroleassignments'], answer['assignableroles']) == ([], [1, 3, 4, 5])
    statuses = {(ue['enrol'], ue['status']) for ue in answer['userenrolments']}
    assert statuses == {('database', 0), ('cohort', 0), ('manual', 0), ('manual', 1)}
    keys = [(ue['userid'], ue['id']) for ue in answer['userenrolments']]
    assert keys == sorted(keys)
    components = {ra['component'] for ra in answer['roleassignments']}
    assert components == {'enrol_database', 'enrol_cohort', ''}
    assert {r['shortname'] for r in answer['roles']} >= {'student', 'editingteacher', 'manager'}


def test_paging_by_user_covers_every_row_once(demo):
    whole = demo.enrolments('MIX301')
    pages, fromuserid = [], 0
    while True:
        page = demo.enrolments('MIX301', fromuserid=fromuserid, maxusers=3)
        pages.append(page)
        fromuserid = page['nextfromuserid']
        if not fromuserid:
            break
    assert len(pages) > 2
    assert all(len({ue['userid'] for ue in p['userenrolments'] + p['roleassignments']}) <= 3 for p in pages)
    assert [ue for p in pages for ue in p['userenrolments']] == whole['userenrolments']
    assert [ra for p in pages for ra in p['roleassignments']] == whole['roleassignments']
    assert all(p['instances'] == whole['instances'] for p in pages)


def test_unknown_course_and_missing_capability(demo):
    assert demo.call('local_keepaccess_get_course_enrolments', courseid=999)['errorcode'] == 'coursenotfound'
    demo.sim.add_token('reader', missing_capabilities=['moodle/course:enrolreview'])
    answer = call(demo.sim.url, 'reader', 'local_keepaccess_get_course_enrolments', {'courseid': demo.ids['DB101']})
    assert answer['errorcode'] == 'nopermissions'


# ----- apply_manual_enrolments -----------------------------------------------------------------
def test_apply_creates_updates_and_keeps_omitted_fields(demo):
    database_users = demo.users_of('DB101', 'database')
    new, existing = database_users[0], database_users[1]
    demo.apply('DB101', [{'userid': existing, 'timestart': T0, 'timeend': T1}])
    answer = demo.apply('DB101', [{'userid': new, 'roleids': [5]}, {'userid': existing, 'timeend': T2},
                                  {'userid': database_users[2], 'status': 0}])
    assert [(r['userid'], r['result'], r['rolesassigned']) for r in answer] == [
        (new, 'created', [5]), (existing, 'updated', []), (database_users[2], 'created', [])]
    assert demo.manual_rows('DB101')[existing] == (0, T0, T2)
    again = demo.apply('DB101', [{'userid': new, 'roleids': [5]}, {'userid': existing, 'timeend': T2}])
    assert [(r['result'], r['rolesassigned']) for r in again] == [('unchanged', []), ('unchanged', [])]
    roles = [(ra['roleid'], ra['component'], ra['itemid']) for ra in demo.enrolments('DB101')['roleassignments']
             if ra['userid'] == new]
    assert sorted(roles)[0] == (5, '', 0)


def test_welcome_only_when_asked_and_only_for_created_rows(demo):
    first, second = demo.users_of('DB101', 'database')[:2]
    demo.apply('DB101', [{'userid': first}])
    assert demo.sim.messages() == []
    demo.apply('DB101', [{'userid': first, 'timeend': T1}, {'userid': second}], sendwelcome=1)
    assert [m['userid'] for m in demo.sim.messages()] == [second]


@pytest.mark.parametrize('bad_row,errorcode', [
    ({'userid': 999999}, 'unknownuser'),
    ({'userid': 1}, 'guestuser'),
    ({'userid': 'FIRST'}, 'duplicateuser'),
    ({'userid': 'SECOND', 'timestart': T1, 'timeend': T0}, 'invalidtimes'),
    ({'userid': 'SECOND', 'status': 2}, 'invalidstatus'),
    ({'userid': 'SECOND', 'timestart': -1}, 'invalidtimes'),
])
def test_apply_errors_apply_nothing(demo, bad_row, errorcode):
    first, second = demo.users_of('DB101', 'database')[:2]
    bad_row = dict(bad_row, userid={'FIRST': first, 'SECOND': second}.get(bad_row['userid'], bad_row['userid']))
    before = demo.enrolments('DB101')
    assert demo.apply('DB101', [{'userid': first, 'roleids': [5]}, bad_row])['errorcode'] == errorcode
    assert demo.enrolments('DB101') == before


def test_apply_skips_a_role_not_assignable_in_a_course_and_applies_the_row(demo):
    first, second = demo.users_of('DB101', 'database')[:2]
    rows = demo.apply('DB101', [{'userid': first, 'roleids': [5]}, {'userid': second, 'roleids': [8, 5]}])
    assert [(r['result'], r['rolesassigned'], r['rolesskipped']) for r in rows] == [
        ('created', [5], []), ('created', [5], [8])]
    assert 8 not in {ra['roleid'] for ra in demo.enrolments('DB101')['roleassignments'] if ra['userid'] == second}


def test_apply_refuses_deleted_users_and_courses_without_manual_instance(demo):
    user = demo.users_of('DB101', 'database')[0]
    demo.sim.set_user_flags(user, deleted=True)
    answer = demo.apply('DB101', [{'userid': user}])
    assert (answer['errorcode'], str(user) in answer['message']) == ('deleteduser', True)
    assert demo.apply('NOM401', [{'userid': 3}])['errorcode'] == 'nomanualinstance'


def test_changing_an_existing_enrolment_needs_manage(demo):
    user = demo.users_of('DB101', 'database')[0]
    demo.apply('DB101', [{'userid': user}])
    demo.sim.add_token('enrolonly', missing_capabilities=['enrol/manual:manage'])
    answer = call(demo.sim.url, 'enrolonly', 'local_keepaccess_apply_manual_enrolments',
                  {'courseid': demo.ids['DB101'], 'enrolments': [{'userid': user, 'timeend': T1}]})
    assert answer['errorcode'] == 'nopermissions'


# ----- remove_manual_enrolments and ensure_manual_instance --------------------------------------
def test_remove_roles_then_unenrol(demo):
    user = demo.users_of('COH201', 'cohort')[0]
    demo.apply('COH201', [{'userid': user, 'roleids': [5, 4]}])
    answer = demo.call('local_keepaccess_remove_manual_enrolments', courseid=demo.ids['COH201'],
                       enrolments=[{'userid': user, 'unenrol': 1, 'roleids': [4]}])
    assert answer == [{'userid': user, 'unenrolled': 1, 'rolesunassigned': [4], 'fieldsreverted': []}]
    roles = sorted((ra['roleid'], ra['component']) for ra in demo.enrolments('COH201')['roleassignments']
                   if ra['userid'] == user)
    assert roles == [(5, ''), (5, 'enrol_cohort')]
    assert user not in demo.manual_rows('COH201')


def test_remove_last_enrolment_takes_every_role(demo):
    user = demo.users_of('DB101', 'database')[0]
    demo.apply('DB101', [{'userid': user, 'roleids': [5]}])
    demo.sim.drop_from_source(demo.ids['DB101'], 'database', [user])
    demo.call('local_keepaccess_remove_manual_enrolments', courseid=demo.ids['DB101'],
              enrolments=[{'userid': user, 'unenrol': 1}])
    answer = demo.enrolments('DB101')
    assert user not in {ra['userid'] for ra in answer['roleassignments'] + answer['userenrolments']}


def test_ensure_manual_instance_creates_with_welcome_off_then_is_idempotent(demo):
    courseid = demo.ids['NOM401']
    created = demo.call('local_keepaccess_ensure_manual_instance', courseid=courseid)
    assert (created['created'], created['enabled']) == (1, 0)
    instance = next(i for i in demo.enrolments('NOM401')['instances'] if i['enrol'] == 'manual')
    assert (instance['id'], instance['status'], instance['sendwelcome'], instance['roleid']) == (
        created['instanceid'], 0, 0, 5)
    again = demo.call('local_keepaccess_ensure_manual_instance', courseid=courseid)
    assert again == {'instanceid': created['instanceid'], 'created': 0, 'enabled': 0}


def test_ensure_manual_instance_enables_a_disabled_one(demo):
    instance = demo.sim.manual_instance(demo.ids['DB101'])
    demo.sim.update_instance(instance['id'], status=1)
    answer = demo.call('local_keepaccess_ensure_manual_instance', courseid=demo.ids['DB101'])
    assert answer == {'instanceid': instance['id'], 'created': 0, 'enabled': 1}


# ----- fixtures ------------------------------------------------------------------------------------
def test_demo_fixture_content(demo):
    assert set(demo.ids) == {'DB101', 'COH201', 'MIX301', 'NOM401'}
    categories = demo.call('core_course_get_categories')
    assert len({c['id'] for c in categories if c['coursecount']}) == 2
    assert demo.sim.manual_instance(demo.ids['NOM401']) is None


def test_bench_fixture_big_course_pages(server):
    server.reset('bench', '4.5', courses=3, students=5, big=2500)
    courses = call(server.url, server.token, 'core_course_get_courses_by_field')['courses']
    assert [c['shortname'] for c in courses] == ['moodle', 'BENCH-0001', 'BENCH-0002', 'BENCH-0003', 'BENCH-BIG']
    big = courses[-1]['id']
    rows, fromuserid = 0, 0
    while True:
        page = call(server.url, server.token, 'local_keepaccess_get_course_enrolments',
                    {'courseid': big, 'fromuserid': fromuserid, 'maxusers': 1000})
        rows += len(page['userenrolments'])
        fromuserid = page['nextfromuserid']
        if not fromuserid:
            break
    assert rows == 2501        # 2500 students and the teacher
