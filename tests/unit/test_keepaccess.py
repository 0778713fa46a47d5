# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KeepAccessApi over real HTTP against StubMoodle answering like local_keepaccess."""

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient, MoodleError
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import (
    APPLY_FUNCTION,
    COMPANION_FUNCTIONS,
    COURSE_LOOKUP_FUNCTION,
    ENSURE_INSTANCE_FUNCTION,
    GET_ENROLMENTS_FUNCTION,
    REMOVE_FUNCTION,
    REQUIRED_FUNCTIONS,
    KeepAccessApi,
)
from tests.unit.http_fixtures import StubMoodle, moodle_exception

SITE_INFO = 'core_webservice_get_site_info'
COURSES = [
    {'id': 2, 'shortname': 'KA1', 'idnumber': 'KA-2026-1', 'fullname': 'Keep access 1'},
    {'id': 3, 'shortname': 'KA2', 'idnumber': '2', 'fullname': 'Keep access 2'},
    {'id': 4, 'shortname': '2026', 'idnumber': 'KA-2026-3', 'fullname': 'Numeric shortname'},
    {'id': 5, 'shortname': 'KA5', 'idnumber': 'OTHER', 'fullname': 'x'},
    {'id': 6, 'shortname': 'OTHER', 'idnumber': '', 'fullname': 'y'},
    {'id': 7, 'shortname': 'NUM', 'idnumber': '987654', 'fullname': 'Numeric idnumber'},
]


def site_info(functions=REQUIRED_FUNCTIONS):
    return {'release': '4.5 (Build: 20241007)', 'siteid': 1,
            'functions': [{'name': name, 'version': '1'} for name in functions]}


def courses_by_field(params):
    field, value = params['field'], params['value']
    return {'courses': [dict(course) for course in COURSES if str(course[field]) == value], 'warnings': []}


def apply_rows(params):
    """Like local_keepaccess: courseid required (invalidparameter otherwise), one answer per row."""
    if 'courseid' not in params:
        return moodle_exception('invalidparameter', 'Invalid parameter value detected',
                                exception='core\\exception\\invalid_parameter_exception')
    return [{'userid': int(row['userid']), 'ueid': 1000 + int(row['userid']), 'result': 'created',
             'rolesassigned': [int(roleid) for roleid in row.get('roleids', [])]}
            for row in params['enrolments']]


def lenient_apply_rows(params):
    """A server that applies whatever rows reached it, without needing courseid."""
    return [{'userid': int(row['userid']), 'ueid': 1, 'result': 'created', 'rolesassigned': []}
            for row in params['enrolments']]


@pytest.fixture
def stub():
    with StubMoodle() as server:
        server.on(SITE_INFO, lambda params: site_info())
        server.on(COURSE_LOOKUP_FUNCTION, courses_by_field)
        yield server


def api_for(server, **options):
    options.setdefault('backoff', 0)
    return KeepAccessApi(MoodleClient(server.url, server.token, **options))


# --- find_course ------------------------------------------------------------

@pytest.mark.parametrize('value, by, expected_id', [
    ('KA1', 'auto', 2),
    ('KA-2026-1', 'auto', 2),        # no course has that shortname: found by idnumber
    ('7', 'auto', 7),
    ('987654', 'auto', 7),           # digits that are no id: found by idnumber
    ('2026', 'shortname', 4),
    ('2', 'id', 2),
    ('KA-2026-3', 'idnumber', 4),
])
def test_find_course_finds_the_one_course(stub, value, by, expected_id):
    course = api_for(stub).find_course(value, by)
    assert course['id'] == expected_id
    assert set(course) == {'id', 'shortname', 'idnumber', 'fullname'}


def test_find_course_returns_the_fields_the_modules_report(stub):
    assert api_for(stub).find_course('KA1') == {
        'id': 2, 'shortname': 'KA1', 'idnumber': 'KA-2026-1', 'fullname': 'Keep access 1'}


@pytest.mark.parametrize('value, named', [
    ('2', ['id 2', 'id 3']),          # id of KA1 and idnumber of KA2
    ('OTHER', ['id 5', 'id 6']),      # idnumber of course 5 and shortname of course 6
])
def test_find_course_auto_refuses_a_value_naming_two_courses(stub, value, named):
    with pytest.raises(MoodleError) as caught:
        api_for(stub).find_course(value)
    assert caught.value.errorcode == 'courseambiguous'
    for text in named:
        assert text in str(caught.value)
    assert 'course_by' in str(caught.value)


def test_find_course_by_field_settles_the_ambiguity(stub):
    assert api_for(stub).find_course('OTHER', 'shortname')['id'] == 6
    assert api_for(stub).find_course('OTHER', 'idnumber')['id'] == 5


def test_find_course_not_found_names_the_course_and_the_lookups(stub):
    with pytest.raises(MoodleError) as caught:
        api_for(stub).find_course('NOPE')
    assert caught.value.errorcode == 'coursenotfound'
    assert "course 'NOPE' not found (looked up by shortname, idnumber)" in str(caught.value)


def test_find_course_by_id_needs_digits(stub):
    with pytest.raises(MoodleError) as caught:
        api_for(stub).find_course('KA1', 'id')
    assert caught.value.errorcode == 'coursenotfound'
    assert 'course_by: id' in str(caught.value)
    assert stub.calls(COURSE_LOOKUP_FUNCTION) == []


def test_find_course_by_one_field_asks_moodle_once(stub):
    api_for(stub).find_course('KA1', 'shortname')
    assert [dict(call['fields'])['field'] for call in stub.calls(COURSE_LOOKUP_FUNCTION)] == ['shortname']


def test_a_lookup_returning_two_courses_is_ambiguous_naming_the_ids(stub):
    stub.on(COURSE_LOOKUP_FUNCTION, lambda params: {'courses': [COURSES[0], COURSES[1]], 'warnings': []})
    with pytest.raises(MoodleError) as caught:
        api_for(stub).find_course('dup', 'idnumber')
    assert caught.value.errorcode == 'courseambiguous'
    assert 'ids 2, 3' in str(caught.value)


# --- read_course_enrolments ---------------------------------------------------

def enrolment_pages(userids):
    """get_course_enrolments paged by user, as the companion does."""
    def answer(params):
        start, limit = int(params['fromuserid']), int(params['maxusers'])
        page = [userid for userid in userids if userid > start]
        page = page[:limit] if limit else page
        last = not page or page[-1] == userids[-1]
        return {
            'course': {'id': 2, 'shortname': 'KA1', 'idnumber': 'KA-2026-1', 'fullname': 'Keep access 1'},
            'instances': [{'id': 12, 'enrol': 'database', 'name': '', 'status': 0, 'roleid': 5,
                           'cohortid': 0, 'sendwelcome': 0}],
            'userenrolments': [{'id': 100 + userid, 'enrolid': 12, 'enrol': 'database', 'userid': userid,
                                'username': 'student%04d' % userid, 'status': 0, 'timestart': 0,
                                'timeend': 0, 'usersuspended': 0, 'userdeleted': 0} for userid in page],
            'roleassignments': [{'id': 500 + userid, 'userid': userid, 'roleid': 5, 'roleshortname': 'student',
                                 'component': 'enrol_database', 'itemid': 12} for userid in page],
            'roles': [{'id': 5, 'shortname': 'student', 'name': ''}],
            'timezone': 'Europe/Berlin',
            'pluginversion': 2026112900,
            'nextfromuserid': 0 if last else page[-1],
        }
    return answer


def test_read_course_enrolments_merges_every_page(stub):
    userids = [5, 6, 9, 10, 11, 40, 41]
    stub.on(GET_ENROLMENTS_FUNCTION, enrolment_pages(userids))
    merged = api_for(stub).read_course_enrolments(2, page_users=3)
    assert [row['userid'] for row in merged['userenrolments']] == userids
    assert [row['userid'] for row in merged['roleassignments']] == userids
    assert len(merged['instances']) == 1 and merged['timezone'] == 'Europe/Berlin'
    assert merged['nextfromuserid'] == 0
    assert [dict(call['fields'])['fromuserid'] for call in stub.calls(GET_ENROLMENTS_FUNCTION)] == ['0', '9', '40']


def test_read_course_enrolments_merges_the_parent_context_roles_and_keeps_the_assignable_roles(stub):
    pages = enrolment_pages([5, 6, 9])

    def newer_plugin(params):
        answer = pages(params)
        answer['inheritedroleassignments'] = [{'id': 900 + row['userid'], 'userid': row['userid'], 'roleid': 5,
                                               'roleshortname': 'student', 'contextid': 7, 'contextlevel': 40}
                                              for row in answer['userenrolments']]
        answer['assignableroles'] = [3, 4, 5]
        return answer

    stub.on(GET_ENROLMENTS_FUNCTION, newer_plugin)
    merged = api_for(stub).read_course_enrolments(2, page_users=2)
    assert [row['userid'] for row in merged['inheritedroleassignments']] == [5, 6, 9]
    assert merged['assignableroles'] == [3, 4, 5]
    stub.on(GET_ENROLMENTS_FUNCTION, enrolment_pages([5, 6, 9]))
    older = api_for(stub).read_course_enrolments(2, page_users=2)
    assert 'assignableroles' not in older and 'inheritedroleassignments' not in older, 'an older plugin tells neither'


def test_read_course_enrolments_refuses_paging_that_does_not_advance(stub):
    pages = enrolment_pages([5, 6])

    def stuck(params):
        answer = pages(params)
        answer['nextfromuserid'] = 5
        return answer

    stub.on(GET_ENROLMENTS_FUNCTION, stuck)
    with pytest.raises(MoodleError) as caught:
        api_for(stub).read_course_enrolments(2, page_users=1)
    assert caught.value.errorcode == 'invalidresponse'


# --- apply / remove: every row must come back ----------------------------------

def rows(count, first=1):
    return [{'userid': userid, 'status': 0, 'timeend': 1788220799, 'roleids': [5]}
            for userid in range(first, first + count)]


def test_apply_manual_returns_one_answer_per_row_in_order_over_several_batches(stub):
    stub.on(APPLY_FUNCTION, apply_rows)
    answers = api_for(stub, batch_size=40).apply_manual(2, rows(100))
    assert [answer['userid'] for answer in answers] == list(range(1, 101))
    assert len(stub.calls(APPLY_FUNCTION)) == 3
    fields = dict(stub.calls(APPLY_FUNCTION)[0]['fields'])
    assert fields['sendwelcome'] == '0' and fields['courseid'] == '2'


def test_apply_manual_sends_only_the_row_keys_the_companion_accepts(stub):
    stub.on(APPLY_FUNCTION, apply_rows)
    api_for(stub).apply_manual(2, [{'userid': 5, 'username': 'student0005', 'status': 1, 'timestart': None}],
                               send_welcome=True)
    fields = stub.calls(APPLY_FUNCTION)[0]['fields'][3:]
    assert fields == [('enrolments[0][userid]', '5'), ('enrolments[0][status]', '1'),
                      ('sendwelcome', '1'), ('courseid', '2')]


def test_rows_lost_by_the_server_raise_incompletebatch():
    # the client believes max_input_vars is 5000, the server keeps only 200 fields
    with StubMoodle(max_input_vars=200) as server:
        server.on(APPLY_FUNCTION, lenient_apply_rows)
        with pytest.raises(MoodleError) as caught:
            api_for(server, batch_size=100).apply_manual(2, rows(100))
    err = caught.value
    assert err.errorcode == 'incompletebatch'
    assert 'of the 100 rows' in str(err) and 'rows were lost' in str(err)
    assert 'batch_size' in str(err) and 'max_input_vars' in str(err)
    assert len(server.calls(APPLY_FUNCTION)) == 1  # stopped before sending the next batch


def test_a_cut_form_loses_courseid_so_moodle_rejects_the_whole_call():
    with StubMoodle(max_input_vars=200) as server:
        server.on(APPLY_FUNCTION, apply_rows)
        with pytest.raises(MoodleError) as caught:
            api_for(server, batch_size=100).apply_manual(2, rows(100))
    assert caught.value.errorcode == 'invalidparameter'


def test_the_right_max_input_vars_keeps_every_row():
    with StubMoodle(max_input_vars=200) as server:
        server.on(APPLY_FUNCTION, apply_rows)
        answers = api_for(server, max_input_vars=200).apply_manual(2, rows(100))
    assert [answer['userid'] for answer in answers] == list(range(1, 101))


def test_a_null_answer_to_a_write_is_not_taken_for_success(stub):
    stub.on(APPLY_FUNCTION, lambda params: None)
    with pytest.raises(MoodleError) as caught:
        api_for(stub).apply_manual(2, rows(3))
    assert caught.value.errorcode == 'incompletebatch'
    assert '0 of the 3 rows' in str(caught.value)


def test_remove_manual_verifies_rows_too(stub):
    stub.on(REMOVE_FUNCTION, lambda params: [
        {'userid': int(row['userid']), 'unenrolled': 1, 'rolesunassigned': []} for row in params['enrolments'][:-1]])
    with pytest.raises(MoodleError) as caught:
        api_for(stub).remove_manual(2, [{'userid': 5, 'unenrol': 1}, {'userid': 6, 'unenrol': 1}])
    assert caught.value.errorcode == 'incompletebatch'
    assert '1 rows were lost' in str(caught.value)


def test_no_rows_no_call(stub):
    assert api_for(stub).apply_manual(2, []) == []
    assert stub.calls(APPLY_FUNCTION) == []


def test_ensure_manual_instance_passes_the_answer_through(stub):
    stub.on(ENSURE_INSTANCE_FUNCTION, lambda params: {'instanceid': 31, 'created': 1, 'enabled': 0})
    assert api_for(stub).ensure_manual_instance(5) == {'instanceid': 31, 'created': 1, 'enabled': 0}
    assert dict(stub.calls(ENSURE_INSTANCE_FUNCTION)[0]['fields'])['enable'] == '1'


def test_a_companion_error_is_a_moodle_error_with_its_code(stub):
    stub.on(APPLY_FUNCTION, lambda params: moodle_exception(
        'nomanualinstance', "Course 'KA4' (id 5) has no enabled manual enrolment instance"))
    with pytest.raises(MoodleError) as caught:
        api_for(stub).apply_manual(5, rows(2))
    assert caught.value.errorcode == 'nomanualinstance'
    assert 'no enabled manual enrolment instance' in str(caught.value)


# --- the companion must be in the service ---------------------------------------

def test_require_companion_names_missing_functions_and_how_to_install(stub):
    stub.on(SITE_INFO, lambda params: site_info([SITE_INFO, COURSE_LOOKUP_FUNCTION]))
    with pytest.raises(MoodleError) as caught:
        api_for(stub).require_companion()
    text = str(caught.value)
    assert caught.value.errorcode == 'functionmissing'
    assert all(function in text for function in COMPANION_FUNCTIONS)
    assert 'install the companion plugin with role cemu.moodle.moodle_companion' in text


def test_require_companion_passes_when_everything_is_there(stub):
    api_for(stub).require_companion()


def test_access_exception_on_a_companion_call_lists_everything_missing(stub):
    stub.on(SITE_INFO, lambda params: site_info([SITE_INFO, COURSE_LOOKUP_FUNCTION, GET_ENROLMENTS_FUNCTION]))
    with pytest.raises(MoodleError) as caught:
        api_for(stub).apply_manual(2, rows(1))
    text = str(caught.value)
    assert caught.value.errorcode == 'functionmissing'
    assert APPLY_FUNCTION in text and REMOVE_FUNCTION in text and ENSURE_INSTANCE_FUNCTION in text
    assert GET_ENROLMENTS_FUNCTION + ',' not in text and not text.endswith(GET_ENROLMENTS_FUNCTION)
