# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MoodleModule: options, errors -> fail_json naming the course (never the token), diff."""

import json

import pytest
import yaml

from ansible_collections.cemu.moodle.plugins.doc_fragments import connection as connection_fragment
from ansible_collections.cemu.moodle.plugins.doc_fragments import course as course_fragment
from ansible_collections.cemu.moodle.plugins.doc_fragments import results as results_fragment
from ansible_collections.cemu.moodle.plugins.module_utils import module_base
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import COURSE_LOOKUP_FUNCTION, GET_ENROLMENTS_FUNCTION
from ansible_collections.cemu.moodle.plugins.module_utils.module_base import (
    MoodleModule,
    connection_argument_spec,
    course_argument_spec,
)
from tests.unit.http_fixtures import StubMoodle, moodle_exception
from tests.unit.module_args import patch_module_args

COURSES = [{'id': 2, 'shortname': 'KA1', 'idnumber': 'KA-2026-1', 'fullname': 'Keep access 1'}]


@pytest.fixture
def stub():
    with StubMoodle() as server:
        server.on(COURSE_LOOKUP_FUNCTION, lambda params: {
            'courses': [course for course in COURSES if str(course[params['field']]) == params['value']],
            'warnings': []})
        yield server


@pytest.fixture(autouse=True)
def no_moodle_environment(monkeypatch):
    for name in ('MOODLE_URL', 'MOODLE_TOKEN', 'MOODLE_VALIDATE_CERTS', 'MOODLE_CA_PATH'):
        monkeypatch.delenv(name, raising=False)


def run_module(args, body, capsys, **module_options):
    """Run ``body(MoodleModule)`` as a module would; return (exit code, result dict)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            body(MoodleModule(**module_options))
    return exited.value.code, json.loads(capsys.readouterr().out)


def stub_args(server, **extra):
    args = {'moodle_url': server.url, 'moodle_token': server.token, 'course': 'KA1'}
    args.update(extra)
    return args


def test_resolves_the_course_and_exits_with_the_result(stub, capsys):
    code, result = run_module(stub_args(stub), lambda mm: mm.exit(False, course=mm.course), capsys)
    assert code == 0
    assert result['changed'] is False
    assert result['course'] == COURSES[0]


def test_moodle_error_fails_naming_the_course_never_the_token(stub, capsys):
    token = stub.token
    stub.on(GET_ENROLMENTS_FUNCTION, lambda params: moodle_exception(
        'nopermissions', 'Sorry, but you do not currently have permissions to do that (Review course enrolments).',
        debuginfo='token %s' % token))

    def body(mm):
        with mm.moodle_errors():
            mm.api.read_course_enrolments(mm.course['id'])

    code, result = run_module(stub_args(stub), body, capsys)
    assert code == 1
    assert result['failed'] is True
    assert result['msg'].startswith("course 'KA1' (id 2): local_keepaccess_get_course_enrolments:")
    assert "capability 'Review course enrolments'" in result['msg']
    assert result['errorcode'] == 'nopermissions'
    assert token not in json.dumps(result)


def test_course_not_found_fails_with_the_lookup_message(stub, capsys):
    code, result = run_module(stub_args(stub, course='NOPE'), lambda mm: mm.course, capsys)
    assert code == 1
    assert "course 'NOPE' not found (looked up by shortname, idnumber)" in result['msg']
    assert not result['msg'].startswith("course 'NOPE': ")


def test_wrong_token_fails_with_a_clear_message(stub, capsys):
    code, result = run_module(stub_args(stub, moodle_token='0' * 32), lambda mm: mm.course, capsys)
    assert code == 1
    assert 'moodle_token' in result['msg']
    assert '0' * 32 not in json.dumps(result)


def test_url_without_scheme_fails_naming_moodle_url(capsys):
    code, result = run_module({'moodle_url': 'moodle.example.edu', 'moodle_token': 'x' * 32, 'course': 'KA1'},
                              lambda mm: mm.client, capsys)
    assert code == 1
    assert 'moodle_url' in result['msg'] and 'https://' in result['msg']


@pytest.mark.parametrize('option, variable', [('moodle_token', 'MOODLE_TOKEN'), ('moodle_url', 'MOODLE_URL')])
@pytest.mark.parametrize('empty', ['', '   '])
def test_empty_url_or_token_fails_before_any_http_call(stub, capsys, option, variable, empty):
    code, result = run_module(stub_args(stub, **{option: empty}), lambda mm: mm.course, capsys)
    assert code == 1
    assert result['msg'] == '%s is empty: set it or %s' % (option, variable)
    assert stub.calls() == []


def test_empty_token_from_the_environment_fails_the_same_way(stub, capsys, monkeypatch):
    monkeypatch.setenv('MOODLE_TOKEN', '')
    code, result = run_module({'moodle_url': stub.url, 'course': 'KA1'}, lambda mm: mm.course, capsys)
    assert code == 1
    assert result['msg'] == 'moodle_token is empty: set it or MOODLE_TOKEN'
    assert stub.calls() == []


def test_read_course_state_reads_every_page_of_the_named_course(stub, capsys):
    """One call per page of users, for the course the options name; the state holds all pages."""
    pages = [enrolments_page([(5, 'student0005')], next_from=5), enrolments_page([(9, 'student0009')], next_from=0)]
    stub.on(GET_ENROLMENTS_FUNCTION, lambda params: pages[0] if params['fromuserid'] == '0' else pages[1])

    def body(mm):
        course, state = mm.read_course_state()
        mm.exit(False, course=course, users=sorted(state.users), manual=state.manual_instance['id'],
                tz=state.timezone)

    code, result = run_module(stub_args(stub), body, capsys)
    assert code == 0
    assert result['course'] == COURSES[0]
    assert result['users'] == [5, 9]
    assert result['manual'] == 10 and result['tz'] == 'Europe/Berlin'
    assert [call['fields'][3:5] for call in stub.calls(GET_ENROLMENTS_FUNCTION)] == [
        [('courseid', '2'), ('fromuserid', '0')], [('courseid', '2'), ('fromuserid', '5')]]


def test_a_course_by_id_is_found_by_its_first_read(stub, capsys):
    """course_by id: the enrolments read names the course (complete, idnumber included); it is the state's
    first read, and only a later read (after a claim) asks Moodle again."""
    stub.on(GET_ENROLMENTS_FUNCTION, lambda params: enrolments_page([(5, 'student0005')], next_from=0))

    def body(mm):
        first = mm.read_course_state()
        second = mm.read_course_state()
        mm.exit(False, course=mm.course, first=first[0], second=second[0])

    code, result = run_module(stub_args(stub, course='2', course_by='id'), body, capsys)
    assert code == 0, result
    assert result['course'] == result['first'] == result['second'] == COURSES[0]
    assert stub.calls(COURSE_LOOKUP_FUNCTION) == []
    assert len(stub.calls(GET_ENROLMENTS_FUNCTION)) == 2


def test_a_missing_course_by_id_fails_with_the_lookup_message(stub, capsys):
    stub.on(GET_ENROLMENTS_FUNCTION, lambda params: moodle_exception(
        'coursenotfound', 'Course id 77 not found (the site front page is not a course here).'))
    code, result = run_module(stub_args(stub, course='77', course_by='id'), lambda mm: mm.course, capsys)
    assert code == 1
    assert result['msg'] == "course '77' not found (looked up by id)"
    assert result['errorcode'] == 'coursenotfound'


def enrolments_page(users, next_from):
    """A local_keepaccess_get_course_enrolments page of course 2: manual instance 10, the given users."""
    return {'course': COURSES[0], 'timezone': 'Europe/Berlin', 'pluginversion': 2026112900,
            'instances': [{'id': 10, 'enrol': 'manual', 'name': '', 'status': 0, 'roleid': 5, 'cohortid': 0,
                           'sendwelcome': 0}],
            'userenrolments': [{'id': 100 + userid, 'enrolid': 10, 'enrol': 'manual', 'userid': userid,
                                'username': username, 'status': 0, 'timestart': 0, 'timeend': 0,
                                'usersuspended': 0, 'userdeleted': 0} for userid, username in users],
            'roleassignments': [], 'roles': [{'id': 5, 'shortname': 'student', 'name': ''}],
            'nextfromuserid': next_from}


def test_connection_options_come_from_the_environment(stub, capsys, monkeypatch):
    monkeypatch.setenv('MOODLE_URL', stub.url)
    monkeypatch.setenv('MOODLE_TOKEN', stub.token)
    monkeypatch.setenv('MOODLE_VALIDATE_CERTS', 'false')
    monkeypatch.setenv('MOODLE_CA_PATH', '/etc/ssl/certs/ca-certificates.crt')

    def body(mm):
        mm.exit(False, course=mm.course, validate_certs=mm.client.validate_certs, ca_path=mm.client.ca_path)

    code, result = run_module({'course': 'KA1'}, body, capsys)
    assert code == 0
    assert result['course']['id'] == 2
    assert result['validate_certs'] is False
    assert result['ca_path'] == '/etc/ssl/certs/ca-certificates.crt'


def test_validate_certs_is_on_by_default(stub, capsys):
    code, result = run_module(stub_args(stub), lambda mm: mm.exit(False, verify=mm.client.validate_certs), capsys)
    assert result['verify'] is True


@pytest.mark.parametrize('option', ['batch_size', 'timeout', 'max_input_vars'])
def test_nonsense_limits_fail_naming_the_option(stub, capsys, option):
    code, result = run_module(stub_args(stub, **{option: 0}), lambda mm: mm.exit(False), capsys)
    assert code == 1
    assert result['msg'].startswith(option)


def test_missing_requests_library_fails_with_missing_required_lib(stub, capsys, monkeypatch):
    monkeypatch.setattr(module_base, 'HAS_REQUESTS', False)
    code, result = run_module(stub_args(stub), lambda mm: mm.exit(False), capsys)
    assert code == 1
    assert 'Failed to import the required Python library (requests)' in result['msg']


def test_missing_jmespath_fails_only_for_modules_that_need_it(stub, capsys, monkeypatch):
    monkeypatch.setattr(module_base, 'HAS_JMESPATH', False)
    code, _result = run_module(stub_args(stub), lambda mm: mm.exit(False), capsys)
    assert code == 0
    code, result = run_module(stub_args(stub), lambda mm: mm.exit(False), capsys, needs_jmespath=True)
    assert code == 1
    assert '(jmespath)' in result['msg']


def test_diff_only_in_diff_mode(stub, capsys):
    def body(mm):
        mm.exit(True, before={'student1': {'timeend': 0}}, after={'student1': {'timeend': 1788220799}})

    _code, result = run_module(stub_args(stub, _ansible_diff=True), body, capsys)
    assert result['diff'] == {'before': {'student1': {'timeend': 0}}, 'after': {'student1': {'timeend': 1788220799}}}
    _code, result = run_module(stub_args(stub), body, capsys)
    assert 'diff' not in result


def test_module_without_course_options(stub, capsys):
    args = {'moodle_url': stub.url, 'moodle_token': stub.token}
    code, result = run_module(args, lambda mm: mm.exit(False, label=mm.course_label()), capsys, with_course=False)
    assert code == 0 and result['label'] == ''


USER_LISTS_RESULT = dict(created=[{'userid': 5, 'username': 's01'}], updated=[], unchanged=[], removed=[], reverted=[],
                         end_dates_set=[], changed_users=[], users=[{'userid': 5, 'username': 's01'}],
                         skipped_users=[{'userid': 6, 'username': 's02', 'reason': 'deleted'}],
                         kept_suspended=[], left_alone=[], counts={'created': 1, 'skipped': 1})


def test_results_list_every_user_by_default(stub, capsys):
    _code, result = run_module(stub_args(stub), lambda mm: mm.exit(True, **USER_LISTS_RESULT), capsys)
    assert result['created'] == [{'userid': 5, 'username': 's01'}] and result['users'] == result['created']


def test_user_lists_false_leaves_out_the_lists_of_every_user_and_keeps_counts_and_users_to_look_at(stub, capsys):
    _code, result = run_module(stub_args(stub, user_lists=False), lambda mm: mm.exit(True, **USER_LISTS_RESULT),
                               capsys)
    assert not set(module_base.USER_LIST_RESULTS) & set(result)
    assert result['counts'] == {'created': 1, 'skipped': 1}
    assert result['skipped_users'] == [{'userid': 6, 'username': 's02', 'reason': 'deleted'}]
    assert 'kept_suspended' in result and 'left_alone' in result


def test_check_mode_is_supported_by_default(stub, capsys):
    _code, result = run_module(stub_args(stub, _ansible_check_mode=True),
                               lambda mm: mm.exit(False, check=mm.check_mode), capsys)
    assert result['check'] is True


# --- doc fragments document exactly the argument spec ---------------------------------

@pytest.mark.parametrize('fragment, spec', [
    (connection_fragment, connection_argument_spec()),
    (course_fragment, course_argument_spec()),
    (results_fragment, module_base.results_argument_spec()),
])
def test_doc_fragment_matches_the_argument_spec(fragment, spec):
    documented = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)['options']
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc['type'] == option['type'], name
        assert doc.get('default') == option.get('default'), name
        assert doc.get('required', False) == option.get('required', False), name
        assert doc.get('choices') == option.get('choices'), name
        assert bool(doc.get('no_log')) is False  # no_log is not a documentation key
        for variable in (option.get('fallback') or (None, []))[1]:
            assert 'E(%s)' % variable in ' '.join(doc['description']), name
