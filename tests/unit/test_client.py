# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MoodleClient over real HTTP against tests.unit.http_fixtures.StubMoodle."""

import json
import logging
import secrets
import traceback
from urllib.parse import parse_qsl, urlencode

import pytest
import requests

from ansible_collections.cemu.moodle.plugins.module_utils.client import (
    MoodleClient,
    MoodleError,
    MoodleTransportError,
    count_fields,
    encode_form,
    encode_params,
)
from tests.unit.http_fixtures import XML_INVALID_TOKEN, Raw, StubMoodle, moodle_exception, unused_port

SITE_INFO = 'core_webservice_get_site_info'
APPLY = 'local_keepaccess_apply_manual_enrolments'

# Real answers recorded on Moodle 4.5 / 5.1 (see MOODLE-FACTS.md)
TYPE_ERROR_45 = {
    'exception': 'TypeError',
    'message': 'core\\user::get_name_placeholders(): Argument #1 ($user) must be of type stdClass, '
               'bool given, called in /var/www/moodle/lib/enrollib.php on line 3674',
}
WSNOINSTANCE = ('wsnoinstance', "Manual enrolment plugin instance doesn't exist or is disabled for the course (id = 5)")


@pytest.fixture
def stub():
    with StubMoodle() as server:
        yield server


def make_client(target, token=None, **options):
    """Client for a StubMoodle (its URL and token) or for a URL."""
    if isinstance(target, StubMoodle):
        target, token = target.url, token or target.token
    options.setdefault('backoff', 0)
    return MoodleClient(target, token or 'token-of-no-server', **options)


def assert_token_absent(err, token):
    texts = [str(err), repr(err), err.describe(), ' '.join(str(arg) for arg in err.args),
             ''.join(traceback.format_exception(type(err), err, err.__traceback__))]
    for text in texts:
        assert token not in text


def site_info_with(functions):
    return {'release': '4.5 (Build: 20241007)', 'version': '2024100700', 'siteid': 1, 'userid': 2,
            'functions': [{'name': name, 'version': '2024100700'} for name in functions]}


# --- request shape ---------------------------------------------------------

def test_post_fields_are_ws_fields_first_then_php_brackets_in_order(stub):
    stub.on(APPLY, lambda params: [])
    make_client(stub).call(APPLY, {
        'courseid': 2,
        'enrolments': [{'userid': 5, 'status': 0, 'timestart': None, 'roleids': [5, 3]},
                       {'userid': 6, 'timeend': 1788220799}],
        'sendwelcome': False,
    })
    request = stub.calls(APPLY)[0]
    assert request['method'] == 'POST'
    assert request['path'] == '/webservice/rest/server.php'
    assert request['fields'] == [
        ('wstoken', stub.token), ('wsfunction', APPLY), ('moodlewsrestformat', 'json'),
        ('courseid', '2'),
        ('enrolments[0][userid]', '5'), ('enrolments[0][status]', '0'),
        ('enrolments[0][roleids][0]', '5'), ('enrolments[0][roleids][1]', '3'),
        ('enrolments[1][userid]', '6'), ('enrolments[1][timeend]', '1788220799'),
        ('sendwelcome', '0'),
    ]


def test_encode_params_turns_bools_into_1_and_0_and_skips_none():
    assert encode_params({'a': True, 'b': False, 'c': None, 'd': {'x': [None, 'y']}}) == [
        ('a', '1'), ('b', '0'), ('d[x][1]', 'y')]


# Values a form must carry intact: separators, spaces, plus signs, brackets, non-ASCII, nesting, numbers
AWKWARD_PARAMS = {
    'courseid': 2, 'name': 'a&b=c + d [x] é/ü?', 'empty': '', 'flag': True, 'off': False, 'gone': None,
    'ratio': 1.5, 'negative': -3, 'nested': {'key with space': [1, None, 'x'], 'k[0]': {'deep': 'ß'}},
    'pair': (7, 8), 'enrolments': [{'userid': 5, 'roleids': [5, 3]}, {}, {'userid': 6, 'timeend': None}],
}


def test_encode_form_is_urlencode_of_the_php_bracket_fields_in_order():
    assert encode_form(AWKWARD_PARAMS) == urlencode(encode_params(AWKWARD_PARAMS))
    assert parse_qsl(encode_form(AWKWARD_PARAMS), keep_blank_values=True) == encode_params(AWKWARD_PARAMS)
    assert encode_form({}) == encode_form(None) == ''


def test_count_fields_counts_what_encode_params_makes():
    for params in (AWKWARD_PARAMS, AWKWARD_PARAMS['enrolments'][0], {}, {'only': None}, [[1, [2, 3]], None]):
        assert count_fields(params) == len(encode_params({'v': params}))


def test_one_form_body_is_posted_with_the_form_content_type(stub):
    """PHP fills $_POST only for application/x-www-form-urlencoded; the body is sent as encoded once."""
    sent = []
    session = requests.Session()
    session.hooks['response'].append(lambda response, *args, **kwargs: sent.append(response.request))
    token = 'tok+en&=/é %s' % secrets.token_hex(4)
    stub.token = token
    stub.on(APPLY, lambda params: [])
    make_client(stub, session=session).call(APPLY, AWKWARD_PARAMS)
    fields = [('wstoken', token), ('wsfunction', APPLY), ('moodlewsrestformat', 'json')] + encode_params(AWKWARD_PARAMS)
    assert sent[0].headers['Content-Type'] == 'application/x-www-form-urlencoded'
    assert sent[0].body == urlencode(fields).encode('ascii')
    assert stub.calls(APPLY)[0]['fields'] == fields  # the server read the token and every field intact


def test_site_root_with_trailing_slash_or_full_endpoint_reaches_the_same_endpoint(stub):
    stub.on(SITE_INFO, lambda params: site_info_with([SITE_INFO]))
    make_client(stub.url + '/', stub.token).call(SITE_INFO)
    make_client(stub.url + '/webservice/rest/server.php', stub.token).call(SITE_INFO)
    assert [request['path'] for request in stub.calls(SITE_INFO)] == ['/webservice/rest/server.php'] * 2


@pytest.mark.parametrize('url', ['moodle.example.edu', 'ftp://moodle.example.edu', '', 'https://'])
def test_url_without_http_scheme_is_refused_naming_moodle_url(url):
    with pytest.raises(MoodleError) as caught:
        MoodleClient(url, 'secret')
    assert caught.value.errorcode == 'invalidurl'
    assert 'moodle_url' in str(caught.value)
    assert 'http://' in str(caught.value)


# --- answers ----------------------------------------------------------------

def test_null_answer_is_none_and_json_result_is_returned(stub):
    stub.queue(APPLY, Raw('null'), Raw('[{"userid": 5}]'))
    client = make_client(stub)
    assert client.call(APPLY) is None
    assert client.call(APPLY) == [{'userid': 5}]


def test_json_exception_body_is_an_error_not_a_result(stub):
    stub.on(APPLY, lambda params: moodle_exception(*WSNOINSTANCE))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY, {'courseid': 5})
    err = caught.value
    assert (err.function, err.errorcode, err.exception) == (APPLY, 'wsnoinstance', 'core\\exception\\moodle_exception')
    assert 'course has no enabled manual enrolment instance' in err.describe()
    assert not isinstance(err, MoodleTransportError)


def test_xml_exception_document_is_an_error_not_a_result(stub):
    stub.on(APPLY, lambda params: Raw(XML_INVALID_TOKEN, content_type='application/xml'))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY)
    err = caught.value
    assert err.errorcode == 'invalidtoken'
    assert err.exception == 'core\\exception\\moodle_exception'
    assert err.message == 'Invalid token - token not found'
    assert 'moodle_token' in err.describe()


def test_php_type_error_without_errorcode_becomes_phperror_without_server_paths(stub):
    stub.on(APPLY, lambda params: Raw(json.dumps(TYPE_ERROR_45)))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY)
    err = caught.value
    assert err.errorcode == 'phperror'
    assert err.exception == 'TypeError'
    assert 'get_name_placeholders' in err.describe()
    for text in (err.describe(), err.message, repr(err)):
        assert '/var/www' not in text and 'enrollib.php' not in text


def test_wrong_token_says_the_token_is_wrong_without_showing_it(stub):
    wrong_token = secrets.token_hex(16)
    with pytest.raises(MoodleError) as caught:
        make_client(stub.url, wrong_token).call(SITE_INFO)
    assert caught.value.errorcode == 'invalidtoken'
    assert 'token' in str(caught.value) and 'moodle_token' in str(caught.value)
    assert_token_absent(caught.value, wrong_token)


def test_missing_capability_is_named(stub):
    stub.on(APPLY, lambda params: moodle_exception(
        'nopermissions', 'Sorry, but you do not currently have permissions to do that (Enrol users).',
        exception='core\\exception\\required_capability_exception'))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY)
    assert "capability 'Enrol users'" in caught.value.describe()


def test_access_exception_for_a_function_missing_from_the_service_says_so(stub):
    stub.on(SITE_INFO, lambda params: site_info_with([SITE_INFO, 'core_course_get_courses_by_field']))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY)
    text = caught.value.describe()
    assert caught.value.errorcode == 'accessexception'
    assert '%s is not in the token\'s service' % APPLY in text


def test_access_exception_for_a_function_in_the_service_points_at_authorised_users(stub):
    stub.on(SITE_INFO, lambda params: site_info_with([SITE_INFO, APPLY]))
    stub.on(APPLY, lambda params: moodle_exception('accessexception', 'Access control exception',
                                                   exception='webservice_access_exception'))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY)
    assert 'authorised users' in caught.value.describe()


def test_require_functions_lists_every_missing_function(stub):
    stub.on(SITE_INFO, lambda params: site_info_with([SITE_INFO, 'a_present']))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).require_functions([SITE_INFO, 'a_present', 'b_missing', 'c_missing'])
    assert caught.value.errorcode == 'functionmissing'
    assert 'b_missing, c_missing' in str(caught.value)
    assert 'a_present' not in str(caught.value)


def test_site_info_is_fetched_once(stub):
    stub.on(SITE_INFO, lambda params: site_info_with([SITE_INFO]))
    client = make_client(stub)
    assert client.site_info()['release'].startswith('4.5')
    client.require_functions([SITE_INFO])
    assert len(stub.calls(SITE_INFO)) == 1


def test_invalidparameter_on_a_large_call_points_at_max_input_vars(stub):
    stub.on(APPLY, lambda params: moodle_exception('invalidparameter', 'Invalid parameter value detected',
                                                   exception='core\\exception\\invalid_parameter_exception'))
    rows = [{'userid': userid, 'status': 0} for userid in range(600)]
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY, {'enrolments': rows, 'courseid': 2})
    assert 'max_input_vars' in caught.value.describe()


# --- transport --------------------------------------------------------------

def test_html_answer_is_not_taken_for_moodle(stub):
    stub.on(SITE_INFO, lambda params: Raw('<!DOCTYPE html><html><body>Welcome to nginx</body></html>',
                                          content_type='text/html'))
    with pytest.raises(MoodleTransportError) as caught:
        make_client(stub).call(SITE_INFO)
    text = str(caught.value)
    assert caught.value.errorcode == 'notmoodle'
    assert 'does not look like a Moodle web service at %s' % stub.url in text
    assert 'moodle_url' in text and 'REST' in text


def test_wrong_path_gives_http_404_naming_moodle_url(stub):
    with pytest.raises(MoodleTransportError) as caught:
        make_client(stub.url + '/moodle', stub.token).call(SITE_INFO)
    assert caught.value.errorcode == 'httperror'
    assert 'HTTP 404' in str(caught.value) and 'moodle_url' in str(caught.value)


def test_redirect_is_reported_not_followed_as_get(stub):
    stub.on(SITE_INFO, lambda params: Raw('', status=301, headers={'Location': 'https://moodle.example.edu/'}))
    with pytest.raises(MoodleTransportError) as caught:
        make_client(stub).call(SITE_INFO)
    assert 'redirected to https://moodle.example.edu/' in str(caught.value)
    assert [request['method'] for request in stub.calls()] == ['POST']


def test_connection_refused_is_a_transport_error_saying_so():
    client = make_client('http://127.0.0.1:%d' % unused_port(), retries=0)
    with pytest.raises(MoodleTransportError) as caught:
        client.call(SITE_INFO, idempotent=True)
    assert caught.value.errorcode == 'connectionerror'
    assert 'connection refused' in str(caught.value)


def test_unknown_host_is_reported_as_dns_problem():
    client = make_client('http://no-such-host.invalid', retries=0, timeout=10)
    with pytest.raises(MoodleTransportError) as caught:
        client.call(SITE_INFO)
    assert 'does not resolve' in str(caught.value)


def test_slow_answer_times_out_and_is_not_repeated(stub):
    stub.on(SITE_INFO, lambda params: Raw('{}', delay=1.5))
    with pytest.raises(MoodleTransportError) as caught:
        make_client(stub, timeout=0.3).call(SITE_INFO, idempotent=True)
    assert caught.value.errorcode == 'timeout'
    assert 'timeout' in str(caught.value)
    assert len(stub.calls(SITE_INFO)) == 1


# --- retries ----------------------------------------------------------------

def test_idempotent_call_is_retried_on_502_503_504_with_exponential_backoff(stub):
    stub.queue(SITE_INFO, Raw('bad gateway', status=502), Raw('busy', status=503),
               Raw('gateway timeout', status=504), Raw('{"siteid": 1}'))
    client = make_client(stub, retries=3, backoff=0.25)
    sleeps = []
    client._sleep = sleeps.append
    assert client.call(SITE_INFO, idempotent=True) == {'siteid': 1}
    assert len(stub.calls(SITE_INFO)) == 4
    assert sleeps == [0.25, 0.5, 1.0]


def test_retries_stop_after_the_configured_number(stub):
    stub.on(SITE_INFO, lambda params: Raw('busy', status=503))
    with pytest.raises(MoodleTransportError) as caught:
        make_client(stub, retries=2).call(SITE_INFO, idempotent=True)
    assert len(stub.calls(SITE_INFO)) == 3
    assert 'HTTP 503' in str(caught.value) and '3 attempts' in str(caught.value)


def test_non_idempotent_call_is_not_retried_on_503(stub):
    stub.queue(APPLY, Raw('busy', status=503), Raw('[]'))
    with pytest.raises(MoodleTransportError):
        make_client(stub, retries=3).call(APPLY, idempotent=False)
    assert len(stub.calls(APPLY)) == 1


@pytest.mark.parametrize('idempotent', [False, True])
def test_http_500_is_never_retried(stub, idempotent):
    stub.queue(APPLY, Raw('<h1>Internal error</h1>', status=500, content_type='text/html'), Raw('[]'))
    with pytest.raises(MoodleTransportError) as caught:
        make_client(stub, retries=3).call(APPLY, idempotent=idempotent)
    assert 'HTTP 500' in str(caught.value)
    assert len(stub.calls(APPLY)) == 1


def test_moodle_errors_are_never_retried(stub):
    stub.queue(APPLY, moodle_exception(*WSNOINSTANCE), Raw('[]'))
    with pytest.raises(MoodleError):
        make_client(stub, retries=3).call(APPLY, idempotent=True)
    assert len(stub.calls(APPLY)) == 1


def test_connection_errors_are_retried_when_idempotent():
    client = make_client('http://127.0.0.1:%d' % unused_port(), retries=2, backoff=0.1)
    sleeps = []
    client._sleep = sleeps.append
    with pytest.raises(MoodleTransportError) as caught:
        client.call(SITE_INFO, idempotent=True)
    assert sleeps == [0.1, 0.2]
    assert '3 attempts' in str(caught.value)


# --- the token never shows --------------------------------------------------

def test_token_echoed_by_the_server_is_masked(stub):
    token = stub.token
    stub.on(APPLY, lambda params: moodle_exception(
        'invalidparameter', 'Invalid parameter value detected', debuginfo='wstoken=%s rejected' % token))
    with pytest.raises(MoodleError) as caught:
        make_client(stub).call(APPLY)
    assert 'wstoken=******** rejected' in caught.value.describe()
    assert_token_absent(caught.value, token)


def test_token_in_a_requests_error_message_is_masked():
    token = secrets.token_hex(16)
    client = make_client('http://127.0.0.1:%d/%s' % (unused_port(), token), token, retries=0)
    with pytest.raises(MoodleTransportError) as caught:
        client.call(SITE_INFO)
    assert_token_absent(caught.value, token)
    assert '********' in str(caught.value)


def test_token_not_in_client_repr_nor_in_debug_logs(stub, caplog):
    stub.on(SITE_INFO, lambda params: site_info_with([SITE_INFO]))
    client = make_client(stub)
    with caplog.at_level(logging.DEBUG):
        client.call(SITE_INFO)
    assert stub.token not in repr(client)
    assert caplog.text  # urllib3 did log the request...
    assert stub.token not in caplog.text  # ...without the token


# --- batches ------------------------------------------------------------------

def echo_userids(params):
    return [{'userid': int(row['userid'])} for row in params.get('enrolments', [])]


def test_rows_per_call_respects_batch_size_and_max_input_vars():
    rows = [{'userid': 1, 'status': 0, 'timeend': 5}] * 10
    assert make_client('http://x.test', batch_size=500, max_input_vars=5000).rows_per_call(
        'enrolments', rows, {'courseid': 2}) == 500
    # (200 - 50 margin - 3 ws fields - 1 courseid) // 3 fields per row
    assert make_client('http://x.test', batch_size=500, max_input_vars=200).rows_per_call(
        'enrolments', rows, {'courseid': 2}) == 48


def test_fields_per_row_is_measured_from_the_widest_row():
    rows = [{'userid': 1}, {'userid': 2, 'roleids': [3, 4, 5, 6]}]
    client = make_client('http://x.test', max_input_vars=200)
    assert client.rows_per_call('enrolments', rows) == (200 - 50 - 3) // 5


def test_a_row_too_wide_for_max_input_vars_is_refused_before_sending():
    client = make_client('http://x.test', max_input_vars=100)
    with pytest.raises(MoodleError) as caught:
        client.call_batched(APPLY, 'enrolments', [{'userid': 1, 'roleids': list(range(60))}])
    assert caught.value.errorcode == 'batchtoolarge'
    assert 'max_input_vars' in str(caught.value)


def test_batches_follow_batch_size_restart_indexes_and_put_rows_before_other_params(stub):
    stub.on(APPLY, echo_userids)
    rows = [{'userid': userid} for userid in range(1, 21)]
    results = make_client(stub, batch_size=7).call_batched(APPLY, 'enrolments', rows, {'courseid': 2})
    assert [len(result) for result in results] == [7, 7, 6]
    assert [item['userid'] for result in results for item in result] == list(range(1, 21))
    second = stub.calls(APPLY)[1]['fields']
    assert second[3] == ('enrolments[0][userid]', '8')
    assert second[-1] == ('courseid', '2')


def test_batching_keeps_every_call_under_the_server_limit_so_no_row_is_lost():
    server_limit = 200
    with StubMoodle(max_input_vars=server_limit) as stub:
        stub.on(APPLY, echo_userids)
        rows = [{'userid': userid, 'status': 0, 'timeend': 1788220799} for userid in range(1, 501)]
        client = make_client(stub, max_input_vars=server_limit)
        results = client.call_batched(APPLY, 'enrolments', rows, {'courseid': 2, 'sendwelcome': False})
        assert [item['userid'] for result in results for item in result] == list(range(1, 501))
        assert all(len(request['fields']) <= server_limit - 50 for request in stub.calls(APPLY))


def test_check_runs_after_each_batch_and_stops_the_next_ones(stub):
    stub.on(APPLY, echo_userids)
    rows = [{'userid': userid} for userid in range(10)]

    def refuse(batch, result):
        raise MoodleError('stop here', errorcode='incompletebatch')

    with pytest.raises(MoodleError):
        make_client(stub, batch_size=4).call_batched(APPLY, 'enrolments', rows, check=refuse)
    assert len(stub.calls(APPLY)) == 1


def test_no_rows_means_no_call(stub):
    assert make_client(stub).call_batched(APPLY, 'enrolments', [], {'courseid': 2}) == []
    assert stub.calls() == []
