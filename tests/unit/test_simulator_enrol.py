# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's Moodle semantics: enrol_manual upserts, transactions, welcome messages,
role clean-up on unenrol, what the external sources do when they drop users, reads."""

from __future__ import annotations

import pytest

from tests.simulator import Simulator
from tests.simulator.client import call
from tests.simulator.registry import KEEP_ACCESS_SERVICE

T0, T1 = 1767225600, 1798675200


@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='empty', token='enroltoken',
                    functions=KEEP_ACCESS_SERVICE + ('core_enrol_get_enrolled_users',)).start()
    yield sim
    sim.stop()


class Site:
    """A course with a manual (welcome on), a database and a cohort instance, a teacher, students."""

    def __init__(self, sim, version='4.5'):
        sim.reset('empty', version)
        self.sim = sim
        self.course = sim.add_course('C1', fullname='Course one', idnumber='C-1')
        self.manual = sim.add_instance(self.course, 'manual')
        self.database = sim.add_instance(self.course, 'database')
        self.teacher = sim.add_user('teacher', firstname='Tea', lastname='Cher')
        self.students = [sim.add_user('s%d' % n) for n in range(1, 6)]
        self.cohort = sim.add_cohort('cohort', members=self.students[3:5])
        self.cohort_instance = sim.add_instance(self.course, 'cohort', customint1=self.cohort)
        sim.add_cohort_members(self.cohort, [])
        sim.enrol(self.database, self.teacher, roleid=3)
        for userid in self.students[:3]:
            sim.enrol(self.database, userid)

    def call(self, function, **params):
        return call(self.sim.url, self.sim.token, function, params)

    def enrol_manual(self, *rows):
        return self.call('enrol_manual_enrol_users',
                         enrolments=[dict({'roleid': 5, 'courseid': self.course}, **row) for row in rows])

    def rows(self, userid):
        """{instanceid: (status, timestart, timeend)} of the user."""
        state = self.sim.course_enrolments(self.course)
        return {ue['enrolid']: (ue['status'], ue['timestart'], ue['timeend'])
                for ue in state['userenrolments'] if ue['userid'] == userid}

    def roles(self, userid):
        state = self.sim.course_enrolments(self.course)
        return sorted((ra['roleid'], ra['component']) for ra in state['roleassignments'] if ra['userid'] == userid)


@pytest.fixture
def site(server):
    return Site(server)


# ----- enrol_manual_enrol_users ---------------------------------------------------------
def test_enrol_creates_manual_enrolment_with_unprotected_role(site):
    user = site.students[0]
    assert site.enrol_manual({'userid': user, 'timestart': T0, 'timeend': T1}) is None
    assert site.rows(user)[site.manual] == (0, T0, T1)
    assert site.roles(user) == [(5, ''), (5, 'enrol_database')]


def test_repeat_without_timestart_and_suspend_resets_them(site):
    user = site.students[0]
    site.enrol_manual({'userid': user, 'timestart': T0, 'timeend': T1, 'suspend': 1})
    site.enrol_manual({'userid': user})
    assert site.rows(user)[site.manual] == (0, 0, 0)


def test_welcome_message_on_every_successful_row_when_the_course_has_a_contact(site):
    user = site.students[0]
    site.enrol_manual({'userid': user})
    site.enrol_manual({'userid': user})
    site.enrol_manual({'userid': user, 'suspend': 1})
    messages = site.sim.messages()
    assert len(messages) == 3
    assert {(m['userid'], m['fromuserid'], m['source']) for m in messages} == {
        (user, site.teacher, 'enrol_manual_enrol_users')}


def test_no_welcome_without_contact_or_with_the_setting_off(site):
    site.sim.drop_from_source(site.course, 'database', [site.teacher])
    site.enrol_manual({'userid': site.students[0]})
    assert site.sim.messages() == []
    site.sim.enrol(site.database, site.teacher, roleid=3)
    site.sim.update_instance(site.manual, customint1=0)
    site.enrol_manual({'userid': site.students[0]})
    assert site.sim.messages() == []


def test_one_bad_row_rolls_back_every_row_and_its_messages(site):
    answer = site.enrol_manual({'userid': site.students[0]}, {'userid': site.students[1]},
                               {'userid': site.students[2], 'roleid': 8})
    assert answer['errorcode'] == 'wsusercannotassign'
    assert site.manual not in site.rows(site.students[0])
    assert site.roles(site.students[0]) == [(5, 'enrol_database')]
    assert site.sim.messages() == []


def test_first_enabled_manual_instance_is_used_and_disabled_means_wsnoinstance(site):
    second = site.sim.add_instance(site.course, 'manual', customint1=0)
    site.sim.update_instance(site.manual, status=1)
    site.enrol_manual({'userid': site.students[0]})
    assert second in site.rows(site.students[0])
    site.sim.update_instance(second, status=1)
    answer = site.enrol_manual({'userid': site.students[1]})
    assert (answer['errorcode'], answer['message']) == (
        'wsnoinstance', "Manual enrolment plugin instance doesn't exist or is disabled for the course (id = %d)"
        % site.course)


def test_45_unknown_user_error_depends_on_the_welcome_setting(site):
    answer = site.enrol_manual({'userid': 999999})
    assert answer['exception'] == 'TypeError' and 'errorcode' not in answer
    assert '/var/www/moodle/lib/enrollib.php' in answer['message']
    site.sim.update_instance(site.manual, customint1=0)
    assert site.enrol_manual({'userid': 999999})['errorcode'] == 'codingerror'


def test_51_checks_the_account_first_but_accepts_suspended_accounts(server):
    site = Site(server, '5.1')
    deleted, unconfirmed, suspended = site.students[:3]
    site.sim.set_user_flags(deleted, deleted=True)
    site.sim.set_user_flags(unconfirmed, confirmed=False)
    site.sim.set_user_flags(suspended, suspended=True)
    codes = [site.enrol_manual({'userid': u}).get('errorcode') for u in (999999, deleted, unconfirmed, 1)]
    assert codes == ['invalidrecordunknown', 'userdeleted', 'usernotconfirmed', 'guestsarenotallowed']
    assert site.enrol_manual({'userid': suspended}) is None
    assert site.rows(suspended)[site.manual] == (0, 0, 0)


def test_missing_enrol_capability_is_nopermissions(site):
    site.sim.add_token('noenrol', missing_capabilities=['enrol/manual:enrol'])
    answer = call(site.sim.url, 'noenrol', 'enrol_manual_enrol_users',
                  {'enrolments': [{'roleid': 5, 'userid': site.students[0], 'courseid': site.course}]})
    assert answer['message'] == 'Sorry, but you do not currently have permissions to do that (Enrol users).'


# ----- unenrol and the sources -----------------------------------------------------------------
def test_unenrolling_the_last_enrolment_removes_every_course_role(site):
    user = site.students[4]            # cohort member only
    site.sim.assign_role(site.course, user, 4)
    site.enrol_manual({'userid': user})
    site.call('enrol_manual_unenrol_users', enrolments=[{'userid': user, 'courseid': site.course}])
    assert site.roles(user) == [(4, ''), (5, ''), (5, 'enrol_cohort')]
    site.sim.drop_from_source(site.course, 'cohort', [user])
    assert site.rows(user) == {} and site.roles(user) == []


def test_database_unenrol_keeps_access_through_a_manual_enrolment(site):
    user = site.students[0]
    site.enrol_manual({'userid': user})
    assert site.sim.drop_from_source(site.course, 'database') == sorted(site.students[:3] + [site.teacher])
    assert site.rows(user) == {site.manual: (0, 0, 0)}
    assert site.roles(user) == [(5, '')]
    assert site.rows(site.students[1]) == {} and site.roles(site.students[1]) == []


@pytest.mark.parametrize('action,expected_status,expected_roles', [
    ('keep', 0, [(5, 'enrol_database')]),
    ('suspend', 1, [(5, 'enrol_database')]),
    ('suspendnoroles', 1, []),
])
def test_database_unenrolaction(site, action, expected_status, expected_roles):
    user = site.students[1]
    site.sim.drop_from_source(site.course, 'database', [user], action=action)
    assert site.rows(user)[site.database][0] == expected_status
    assert site.roles(user) == expected_roles


def test_cohort_removal_leaves_the_cohort_and_unenrols_in_every_synced_course(site):
    other = site.sim.add_course('C2')
    other_instance = site.sim.add_instance(other, 'cohort', customint1=site.cohort)
    site.sim.add_cohort_members(site.cohort, [])
    user = site.students[3]
    site.sim.drop_from_source(site.course, 'cohort', [user])
    assert site.rows(user) == {}
    assert user not in site.sim.dump_state()['cohort_members'][str(site.cohort)]
    other_users = [ue['userid'] for ue in site.sim.course_enrolments(other)['userenrolments']
                   if ue['enrolid'] == other_instance]
    assert other_users == [site.students[4]]
    with pytest.raises(ValueError):
        site.sim.drop_from_source(site.course, 'cohort', action='keep')


# ----- reads -------------------------------------------------------------------------------
def test_enrollmentmethods_lists_enabled_instances_only(site):
    site.sim.update_instance(site.cohort_instance, status=1)
    course = site.call('core_course_get_courses_by_field', field='idnumber', value='C-1')['courses'][0]
    assert course['enrollmentmethods'] == ['manual', 'database']
    assert course['contacts'] == [{'id': site.teacher, 'fullname': 'Tea Cher'}]


def test_idnumber_needs_course_update(site):
    site.sim.add_token('noupdate', missing_capabilities=['moodle/course:update'])
    course = call(site.sim.url, 'noupdate', 'core_course_get_courses_by_field', {'field': 'id', 'value': site.course})
    assert 'idnumber' not in course['courses'][0] and course['courses'][0]['shortname'] == 'C1'


def test_courses_by_ids_and_category(site):
    second = site.sim.add_course('C2', category=site.sim.add_category('Other'))
    by_ids = site.call('core_course_get_courses_by_field', field='ids', value='%d,%d' % (second, site.course))
    assert [c['id'] for c in by_ids['courses']] == [site.course, second]
    by_category = site.call('core_course_get_courses_by_field', field='category', value='1')
    assert [c['id'] for c in by_category['courses']] == [site.course]
    assert site.call('core_course_get_courses_by_field', field='bogus', value='1')['errorcode'] == 'invalidparameter'


def test_get_categories_with_and_without_subcategories(site):
    parent = site.sim.add_category('Parent', idnumber='P')
    child = site.sim.add_category('Child', parent=parent)
    with_sub = site.call('core_course_get_categories', criteria=[{'key': 'idnumber', 'value': 'P'}])
    assert [(c['id'], c['path'], c['depth']) for c in with_sub] == [
        (parent, '/%d' % parent, 1), (child, '/%d/%d' % (parent, child), 2)]
    alone = site.call('core_course_get_categories', criteria=[{'key': 'id', 'value': parent}], addsubcategories=0)
    assert [c['id'] for c in alone] == [parent]


def test_enrolled_users_active_suspended_and_dates(site):
    expired, future, suspended = site.students[0], site.students[1], site.students[2]
    site.sim.drop_from_source(site.course, 'database', [suspended], action='suspend')
    site.enrol_manual({'userid': expired, 'timestart': 1, 'timeend': 2})
    site.sim.drop_from_source(site.course, 'database', [expired])
    site.enrol_manual({'userid': future, 'timestart': 4102444800})
    site.sim.drop_from_source(site.course, 'database', [future])

    def ids(options):
        return [u['id'] for u in site.call('core_enrol_get_enrolled_users', courseid=site.course, options=options)]

    everyone = sorted([site.teacher] + site.students)
    assert ids([]) == everyone
    assert ids([{'name': 'onlysuspended', 'value': 1}]) == [expired, future, suspended]
    assert ids([{'name': 'onlyactive', 'value': 1}]) == [site.teacher] + site.students[3:]
    assert ids([{'name': 'limitfrom', 'value': 2}, {'name': 'limitnumber', 'value': 2}]) == everyone[2:4]


def test_enrolled_users_lists_each_role_assignment(site):
    user = site.students[0]
    site.enrol_manual({'userid': user})
    users = site.call('core_enrol_get_enrolled_users', courseid=site.course,
                      options=[{'name': 'userfields', 'value': 'id,roles'}])
    entry = next(u for u in users if u['id'] == user)
    assert list(entry) == ['id', 'fullname', 'roles']
    assert [r['shortname'] for r in entry['roles']] == ['student', 'student']


def test_delete_course_removes_everything_of_it(site):
    site.sim.delete_course(site.course)
    assert site.call('core_course_get_courses_by_field', field='id', value=site.course)['courses'] == []
    assert site.call('core_enrol_get_enrolled_users', courseid=site.course)['errorcode'] == 'invalidrecord'
