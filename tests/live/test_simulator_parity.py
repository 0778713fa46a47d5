# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's `recorded` fixture against the real Moodle it mirrors: same requests, same answers.

Every case sends the same web-service request (course and user ids looked up
on each side by shortname and username) to the real Moodle and to the
simulator, and compares the raw answers: shape (keys and types), content
(normalised by usernames and role shortnames, ids left out), errors
(exception class, errorcode, message with numbers masked). A difference is a
place where the tests that run against the simulator would not tell what the
real Moodle does.

Writes only to users the fixture leaves alone (student0101 into KA1) and puts
them back; the fixture is reset first. With ``MOODLE_LIVE_READONLY=1`` it
neither resets the fixture nor writes (for a site another run is using): the
write round is skipped and the error cases that a changed fixture could turn
into writes run only while KA4 still has no manual instance.
"""

import os
import re
import time

import pytest

from tests.live.live_backend import record
from tests.simulator import Simulator
from tests.simulator.client import call
from tests.simulator.recorded_live import BUILT_FIXTURE, RECORDINGS_WIN_ROLES, counts_of

SIM_TOKEN = 'parity-simulator-token-000001'
COURSES = ('KA1', 'KA2', 'KA3', 'KA4', 'BIG1')
PROBE_USER = 'student0101'       # in KA2 (cohort) only; written into KA1 and removed again
FAR_FUTURE = 4102444799          # 2099-12-31T23:59:59Z


class Side:
    """One site answering raw REST calls, with ids looked up by name."""

    def __init__(self, label, url, token, count_messages=None):
        self.label = label
        self.url = url
        self.token = token
        self.count_messages = count_messages
        self._courses = {}
        self._users = {}
        self._roles = None

    def call(self, function, params=None):
        return call(self.url, self.token, function, params or {})

    def course_id(self, shortname):
        if shortname not in self._courses:
            answer = self.call('core_course_get_courses_by_field', {'field': 'shortname', 'value': shortname})
            self._courses[shortname] = answer['courses'][0]['id']
        return self._courses[shortname]

    def enrolments(self, shortname, **paging):
        params = dict({'courseid': self.course_id(shortname)}, **paging)
        return self.call('local_keepaccess_get_course_enrolments', params)

    def user_id(self, username):
        if username not in self._users:
            for shortname in COURSES:
                for ue in self.enrolments(shortname)['userenrolments']:
                    self._users[ue['username']] = ue['userid']
        return self._users[username]

    def role_id(self, shortname):
        if self._roles is None:
            self._roles = dict((r['shortname'], r['id']) for r in self.enrolments('KA1')['roles'])
        return self._roles[shortname]


READ_ONLY = os.environ.get('MOODLE_LIVE_READONLY', '').lower() in ('1', 'true', 'yes')
READ_ONLY_WAIT = int(os.environ.get('MOODLE_LIVE_READONLY_WAIT', '300'))   # seconds to wait for a built fixture


def fixture_counts(side):
    """Per course: user enrolments per (method, status) and the number of manual role assignments."""
    return dict((shortname, counts_of(side.enrolments(shortname))) for shortname in COURSES)


def wait_until_built(side, timeout):
    """Whether the site shows the built fixture within ``timeout`` seconds (another run may be resetting it)."""
    deadline = time.monotonic() + timeout
    while fixture_counts(side) != BUILT_FIXTURE:
        if time.monotonic() >= deadline:
            return False
        time.sleep(10)
    return True


@pytest.fixture(scope='module')
def sides(live):
    if not READ_ONLY:
        live.build_fixture()
    elif not wait_until_built(Side('real', live.url, live.token), READ_ONLY_WAIT):
        pytest.skip('read-only run: the live fixture is not as build_fixture.php leaves it (another run is '
                    'using the site); nothing to compare against')
    simulator = Simulator(version='4.5', fixture='recorded').start()
    simulator.add_service_token(SIM_TOKEN)      # the live token is the least-privilege service user's
    real_messages = live.welcome_messages if live.has_sql else None
    yield (Side('real', live.url, live.token, real_messages),
           Side('simulator', simulator.url, SIM_TOKEN, lambda: len(simulator.messages())))
    simulator.stop()
    if not READ_ONLY:
        live.build_fixture()


def both(sides, request):
    """``request(side)`` -> answer, on the real Moodle and on the simulator."""
    real, simulated = sides
    return request(real), request(simulated)


def both_when_built(sides, request):
    """Like both(), but when the answers differ while the real fixture is not in its built state
    (another run is resetting or using it), wait for it and ask again once."""
    real, simulated = both(sides, request)
    if real != simulated and fixture_counts(sides[0]) != BUILT_FIXTURE and wait_until_built(sides[0], READ_ONLY_WAIT):
        real, simulated = both(sides, request)
    return real, simulated


# -- normalising --

def shape(value):
    """Keys and value types, recursively (lists: the shape of their first element)."""
    if isinstance(value, dict):
        return dict((key, shape(item)) for key, item in value.items())
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def error_view(answer):
    if not isinstance(answer, dict) or 'exception' not in answer:
        return {'not an error': shape(answer)}
    return {'exception': answer.get('exception'), 'errorcode': answer.get('errorcode'),
            'message': re.sub(r'\d+', '#', answer.get('message', ''))}


def enrolment_view(answer):
    """A course's enrolments without ids: instances, and per username the enrolments and roles."""
    instance_kind = dict((i['id'], i['enrol']) for i in answer['instances'])
    users = {}
    for ue in answer['userenrolments']:
        users.setdefault(ue['username'], {'enrolments': [], 'roles': []})['enrolments'].append(
            (instance_kind[ue['enrolid']], ue['status'], ue['timestart'], ue['timeend'], ue['usersuspended'],
             ue['userdeleted']))
    names = dict((ue['userid'], ue['username']) for ue in answer['userenrolments'])
    for ra in answer['roleassignments']:
        component = ra['component']
        if ra['itemid']:
            component = '%s:%s' % (component, instance_kind.get(ra['itemid'], '?'))
        users.setdefault(names.get(ra['userid'], 'userid %d' % ra['userid']),
                         {'enrolments': [], 'roles': []})['roles'].append((ra['roleshortname'], component))
    for entry in users.values():
        entry['enrolments'].sort()
        entry['roles'].sort()
    instances = [(i['enrol'], i['status'], i['sendwelcome'], i['name']) for i in answer['instances']]
    return {'instances': instances, 'users': users, 'timezone': answer['timezone'],
            'course': dict((k, answer['course'][k]) for k in ('shortname', 'idnumber', 'fullname'))}


def differences(real, simulated, path=''):
    """Readable list of where two normalised values differ."""
    if isinstance(real, dict) and isinstance(simulated, dict):
        found = []
        for key in sorted(set(real) | set(simulated), key=str):
            if key not in simulated:
                found.append('%s/%s: only on the real Moodle: %r' % (path, key, real[key]))
            elif key not in real:
                found.append('%s/%s: only in the simulator: %r' % (path, key, simulated[key]))
            else:
                found.extend(differences(real[key], simulated[key], '%s/%s' % (path, key)))
        return found
    if real != simulated:
        return ['%s: real %r, simulator %r' % (path or '/', real, simulated)]
    return []


# -- reading --

@pytest.mark.parametrize('shortname', COURSES)
def test_course_enrolments_have_the_same_shape(sides, shortname):
    real, simulated = both(sides, lambda side: side.enrolments(shortname, maxusers=50))
    assert differences(shape(real), shape(simulated)) == []


def comparable_view(side, shortname):
    """enrolment_view(); on the real side without the role assignments where the simulator follows the
    recordings (tests/simulator/recorded_live: RECORDINGS_WIN_ROLES)."""
    view = enrolment_view(side.enrolments(shortname))
    if side.label == 'real':
        for username, role in RECORDINGS_WIN_ROLES.get(shortname, {}).items():
            roles = view['users'].get(username, {}).get('roles', [])
            if role in roles:
                roles.remove(role)
    return view


@pytest.mark.parametrize('shortname', COURSES)
def test_course_content_is_the_same(sides, shortname):
    real, simulated = both_when_built(sides, lambda side: comparable_view(side, shortname))
    assert differences(real, simulated) == []


def lookup_view(answer):
    """Shape of a course lookup, and the fields a module reads."""
    course = answer['courses'][0]
    return {'shape': shape(answer), 'course': dict((key, course.get(key)) for key in (
        'shortname', 'idnumber', 'fullname', 'enrollmentmethods', 'visible', 'format', 'contacts'))}


@pytest.mark.parametrize('shortname', COURSES)
def test_course_lookup_answers_the_same(sides, shortname):
    def lookup(side):
        return lookup_view(side.call('core_course_get_courses_by_field', {'field': 'shortname', 'value': shortname}))
    real, simulated = both_when_built(sides, lookup)
    assert differences(real, simulated) == []


def test_paging_splits_the_same_way(sides):
    def pages(side):
        sizes, fromuserid = [], 0
        while True:
            page = side.enrolments('BIG1', fromuserid=fromuserid, maxusers=700)
            sizes.append(len(set(ue['userid'] for ue in page['userenrolments'])))
            last = max(ue['userid'] for ue in page['userenrolments'])
            if not page['nextfromuserid']:
                return sizes
            assert page['nextfromuserid'] == last, side.label
            fromuserid = page['nextfromuserid']
    real, simulated = both_when_built(sides, pages)
    assert real == simulated


# -- errors (nothing is written) --

ERROR_CASES = {
    'no manual instance': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA4'), 'enrolments': [{'userid': s.user_id('student0301')}]}),
    'unknown user': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA1'), 'enrolments': [{'userid': 987654}]}),
    'same user twice': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA1'), 'enrolments': [{'userid': s.user_id(PROBE_USER)}] * 2}),
    'end before start': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA1'),
        'enrolments': [{'userid': s.user_id(PROBE_USER), 'timestart': 2000000000, 'timeend': 1900000000}]}),
    'bad status': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA1'), 'enrolments': [{'userid': s.user_id(PROBE_USER), 'status': 2}]}),
    'unknown key': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA1'), 'enrolments': [{'userid': s.user_id(PROBE_USER), 'roleid': 5}]}),
    # Since local_keepaccess 2026120100 a role the caller may not assign is skipped, not refused (it would
    # write): the row is refused by its times, after the roles are looked at.
    'role not assignable, end before start': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA1'),
        'enrolments': [{'userid': s.user_id('student0102'), 'roleids': [s.role_id('manager')],
                        'timestart': 2000000000, 'timeend': 1900000000}]}),
    'unknown course (read)': lambda s: ('local_keepaccess_get_course_enrolments', {'courseid': 987654}),
    'negative maxusers': lambda s: ('local_keepaccess_get_course_enrolments', {
        'courseid': s.course_id('KA1'), 'maxusers': -1}),
    'unknown course (write)': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': 987654, 'enrolments': [{'userid': s.user_id(PROBE_USER)}]}),
    'remove without manual instance': lambda s: ('local_keepaccess_remove_manual_enrolments', {
        'courseid': s.course_id('KA4'), 'enrolments': [{'userid': s.user_id('student0301'), 'unenrol': 1}]}),
    'ensure on unknown course': lambda s: ('local_keepaccess_ensure_manual_instance', {'courseid': 987654}),
    # since local_keepaccess 2026120130 a remove row may put fields back; they are checked before any write
    'put back an end before the start': lambda s: ('local_keepaccess_remove_manual_enrolments', {
        'courseid': s.course_id('KA3'),
        'enrolments': [{'userid': s.user_id('student0216'), 'timestart': 2000000000, 'timeend': 1900000000}]}),
    'put back a bad status': lambda s: ('local_keepaccess_remove_manual_enrolments', {
        'courseid': s.course_id('KA3'), 'enrolments': [{'userid': s.user_id('student0216'), 'status': 2}]}),
    'core enrol without manual instance': lambda s: ('enrol_manual_enrol_users', {'enrolments': [{
        'roleid': s.role_id('student'), 'userid': s.user_id('student0301'), 'courseid': s.course_id('KA4')}]}),
    'course lookup by a bad field': lambda s: ('core_course_get_courses_by_field', {'field': 'name', 'value': 'x'}),
}


# Cases refused only because KA4 has no manual instance: on a fixture another run changed they would write.
NEEDS_KA4_WITHOUT_MANUAL = frozenset(('no manual instance', 'remove without manual instance',
                                      'core enrol without manual instance'))


def ka4_has_manual_instance(side):
    return any(i['enrol'] == 'manual' for i in side.enrolments('KA4', maxusers=1)['instances'])


@pytest.mark.parametrize('case', sorted(ERROR_CASES))
def test_errors_are_the_same(sides, case):
    if READ_ONLY and case in NEEDS_KA4_WITHOUT_MANUAL and ka4_has_manual_instance(sides[0]):
        pytest.skip('read-only run: KA4 has a manual instance now, so this case could write')

    def send(side):
        function, params = ERROR_CASES[case](side)
        return error_view(side.call(function, params))
    real, simulated = both(sides, send)
    assert 'exception' in real, 'the real Moodle accepted the bad request: %r' % real
    assert differences(real, simulated) == []


def test_invalid_token_is_refused_the_same_way(sides):
    real, simulated = both(sides, lambda side: error_view(
        call(side.url, 'not-a-token-0123456789', 'core_webservice_get_site_info')))
    assert differences(real, simulated) == []


# -- a write and its undo, answered the same --

def probe_rounds(side):
    """Create, repeat, update, then remove student0101's manual enrolment in KA1; the answers."""
    courseid, userid, student = side.course_id('KA1'), side.user_id(PROBE_USER), side.role_id('student')
    apply = 'local_keepaccess_apply_manual_enrolments'
    row = {'userid': userid, 'status': 0, 'timestart': 0, 'timeend': FAR_FUTURE, 'roleids': [student]}
    answers = [side.call(apply, {'courseid': courseid, 'enrolments': [row]}),
               side.call(apply, {'courseid': courseid, 'enrolments': [row]}),
               side.call(apply, {'courseid': courseid, 'enrolments': [dict(row, timeend=FAR_FUTURE - 1)]}),
               side.call('local_keepaccess_remove_manual_enrolments', {
                   'courseid': courseid, 'enrolments': [{'userid': userid, 'unenrol': 1, 'roleids': [student]}]})]
    for answer in answers:
        for item in answer if isinstance(answer, list) else []:
            for key in ('userid', 'ueid'):
                item.pop(key, None)
            item['rolesassigned' if 'rolesassigned' in item else 'rolesunassigned'] = len(
                item.get('rolesassigned', item.get('rolesunassigned', [])))
    after = [ue for ue in side.enrolments('KA1')['userenrolments'] if ue['userid'] == userid]
    return {'answers': answers, 'left in KA1': after}


@pytest.mark.skipif(READ_ONLY, reason='MOODLE_LIVE_READONLY: this round writes to the real Moodle')
def test_write_and_undo_answer_the_same(sides):
    real, simulated = both(sides, probe_rounds)
    assert real['answers'][0][0]['result'] == 'created'
    assert differences(real, simulated) == []


HISTORY_FIELDS = ('step', 'hadbefore', 'statusbefore', 'timestartbefore', 'timeendbefore', 'hasafter', 'statusafter',
                  'timestartafter', 'timeendafter', 'rolesbefore', 'rolesafter')


def put_back_rounds(side):
    """An end date on student0216's manual enrolment in KA3 (from before), put back by remove_manual in the same
    row as a role removal; again (nothing to do); the answers, the enrolment and the history rows they wrote."""
    courseid, userid, teacher = side.course_id('KA3'), side.user_id('student0216'), side.role_id('teacher')
    remove = 'local_keepaccess_remove_manual_enrolments'
    history = side.call('local_keepaccess_get_course_history', {'courseid': courseid})['records']
    side.call('local_keepaccess_apply_manual_enrolments', {'courseid': courseid, 'step': 'enddate', 'enrolments': [
        {'userid': userid, 'timeend': FAR_FUTURE, 'roleids': [teacher]}]})
    row = {'userid': userid, 'unenrol': 0, 'timeend': 0, 'status': 0, 'roleids': [teacher]}
    answers = [side.call(remove, {'courseid': courseid, 'step': 'revert', 'enrolments': [row]}),
               side.call(remove, {'courseid': courseid, 'step': 'revert', 'enrolments': [row]})]
    for answer in answers:
        for item in answer:
            item.pop('userid')
            item['rolesunassigned'] = len(item['rolesunassigned'])
    written = side.call('local_keepaccess_get_course_history', {'courseid': courseid})['records'][len(history):]
    rolenames = dict((r['id'], r['shortname']) for r in side.enrolments('KA1')['roles'])
    for record in written:
        for key in ('rolesbefore', 'rolesafter'):
            record[key] = sorted(rolenames[int(r)] for r in record[key].split(',') if r)
    after = [(ue['status'], ue['timestart'], ue['timeend']) for ue in side.enrolments('KA3')['userenrolments']
             if ue['userid'] == userid and ue['enrol'] == 'manual']
    return {'answers': answers, 'history': [dict((k, r[k]) for k in HISTORY_FIELDS) for r in written],
            'enrolment': after}


@pytest.mark.skipif(READ_ONLY, reason='MOODLE_LIVE_READONLY: this round writes to the real Moodle')
def test_fields_put_back_by_remove_answer_and_record_the_same(sides):
    real, simulated = both(sides, put_back_rounds)
    assert real['answers'][0] == [{'unenrolled': 0, 'rolesunassigned': 1, 'fieldsreverted': ['timeend']}]
    assert real['enrolment'] == [(0, 0, 0)]
    assert [r['step'] for r in real['history']] == ['enddate', 'revert']
    assert differences(real, simulated) == []


def welcome_rounds(side):
    """Welcome messages each write stores in KA1 (it has contacts: the two editing teachers)."""
    courseid, student = side.course_id('KA1'), side.role_id('student')
    first, second = side.user_id('student0103'), side.user_id('student0104')
    apply = 'local_keepaccess_apply_manual_enrolments'
    core = {'enrolments': [{'roleid': student, 'userid': second, 'courseid': courseid}]}
    writes = [
        ('companion, sendwelcome=1, new enrolment', apply,
         {'courseid': courseid, 'sendwelcome': 1, 'enrolments': [{'userid': first, 'roleids': [student]}]}),
        ('companion, sendwelcome=1, same again', apply,
         {'courseid': courseid, 'sendwelcome': 1, 'enrolments': [{'userid': first, 'roleids': [student]}]}),
        ('companion, sendwelcome=0, changed end', apply,
         {'courseid': courseid, 'enrolments': [{'userid': first, 'timeend': FAR_FUTURE}]}),
        ('enrol_manual_enrol_users, new', 'enrol_manual_enrol_users', core),
        ('enrol_manual_enrol_users, same again', 'enrol_manual_enrol_users', core),
    ]
    counted = {}
    for label, function, params in writes:
        before = side.count_messages()
        answer = side.call(function, params)
        assert not (isinstance(answer, dict) and 'exception' in answer), (side.label, label, answer)
        counted[label] = side.count_messages() - before
    side.call('local_keepaccess_remove_manual_enrolments', {'courseid': courseid, 'enrolments': [
        {'userid': first, 'unenrol': 1, 'roleids': [student]}, {'userid': second, 'unenrol': 1, 'roleids': [student]}]})
    return counted


@pytest.mark.skipif(READ_ONLY, reason='MOODLE_LIVE_READONLY: these writes would change the real Moodle')
def test_welcome_messages_are_sent_alike(sides):
    if sides[0].count_messages is None:
        pytest.skip('MOODLE_LIVE_PSQL is not set: welcome messages are counted in mdl_notifications')
    real, simulated = both(sides, welcome_rounds)
    record('welcome messages per write in KA1, real Moodle: %s; simulator: %s' % (real, simulated))
    assert real['companion, sendwelcome=0, changed end'] == 0
    assert differences(real, simulated) == []
