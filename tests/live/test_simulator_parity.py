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
them back; the fixture is reset first.
"""

import re

import pytest

from tests.simulator import Simulator
from tests.simulator.client import call

SIM_TOKEN = 'parity-simulator-token-000001'
COURSES = ('KA1', 'KA2', 'KA3', 'KA4', 'BIG1')
PROBE_USER = 'student0101'       # in KA2 (cohort) only; written into KA1 and removed again
FAR_FUTURE = 4102444799          # 2099-12-31T23:59:59Z


class Side:
    """One site answering raw REST calls, with ids looked up by name."""

    def __init__(self, label, url, token):
        self.label = label
        self.url = url
        self.token = token
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


@pytest.fixture(scope='module')
def sides(live):
    live.build_fixture()
    simulator = Simulator(version='4.5', fixture='recorded', token=SIM_TOKEN).start()
    yield Side('real', live.url, live.token), Side('simulator', simulator.url, SIM_TOKEN)
    simulator.stop()
    live.build_fixture()


def both(sides, request):
    """``request(side)`` -> answer, on the real Moodle and on the simulator."""
    real, simulated = sides
    return request(real), request(simulated)


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
        component = ra['component'] if not ra['itemid'] else '%s:%s' % (ra['component'],
                                                                         instance_kind.get(ra['itemid'], '?'))
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


@pytest.mark.parametrize('shortname', COURSES)
def test_course_content_is_the_same(sides, shortname):
    real, simulated = both(sides, lambda side: enrolment_view(side.enrolments(shortname)))
    assert differences(real, simulated) == []


@pytest.mark.parametrize('shortname', COURSES)
def test_course_lookup_answers_the_same(sides, shortname):
    def lookup(side):
        return side.call('core_course_get_courses_by_field', {'field': 'shortname', 'value': shortname})
    real, simulated = both(sides, lookup)
    assert differences(shape(real), shape(simulated)) == []
    for key in ('shortname', 'idnumber', 'fullname', 'enrollmentmethods', 'visible', 'format'):
        assert real['courses'][0].get(key) == simulated['courses'][0].get(key), key


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
    real, simulated = both(sides, pages)
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
    'role not assignable': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': s.course_id('KA1'),
        'enrolments': [{'userid': s.user_id('student0102'), 'roleids': [s.role_id('manager')]}]}),
    'unknown course (read)': lambda s: ('local_keepaccess_get_course_enrolments', {'courseid': 987654}),
    'negative maxusers': lambda s: ('local_keepaccess_get_course_enrolments', {
        'courseid': s.course_id('KA1'), 'maxusers': -1}),
    'unknown course (write)': lambda s: ('local_keepaccess_apply_manual_enrolments', {
        'courseid': 987654, 'enrolments': [{'userid': s.user_id(PROBE_USER)}]}),
    'remove without manual instance': lambda s: ('local_keepaccess_remove_manual_enrolments', {
        'courseid': s.course_id('KA4'), 'enrolments': [{'userid': s.user_id('student0301'), 'unenrol': 1}]}),
    'ensure on unknown course': lambda s: ('local_keepaccess_ensure_manual_instance', {'courseid': 987654}),
    'core enrol without manual instance': lambda s: ('enrol_manual_enrol_users', {'enrolments': [{
        'roleid': s.role_id('student'), 'userid': s.user_id('student0301'), 'courseid': s.course_id('KA4')}]}),
    'course lookup by a bad field': lambda s: ('core_course_get_courses_by_field', {'field': 'name', 'value': 'x'}),
}


@pytest.mark.parametrize('case', sorted(ERROR_CASES))
def test_errors_are_the_same(sides, case):
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


def test_write_and_undo_answer_the_same(sides):
    real, simulated = both(sides, probe_rounds)
    assert real['answers'][0][0]['result'] == 'created'
    assert differences(real, simulated) == []
