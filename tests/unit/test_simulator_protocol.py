# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's transport: REST encoding, errors, max_input_vars, faults, concurrency, control API, CLI."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading
import time
import types

import pytest
import requests

from tests.simulator import Simulator, server as simulator_server
from tests.simulator.client import call, control, rest, send_fields

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KA1 = 2


@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='recorded', token='prototoken').start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(server):
    server.reset('recorded', '4.5')
    server.configure(max_input_vars=5000)
    return server


def enrol_rows(userids, courseid=KA1):
    return [{'roleid': 5, 'userid': u, 'courseid': courseid} for u in userids]


def manual_userids(sim, courseid=KA1):
    state = sim.course_enrolments(courseid)
    manual = {i['id'] for i in state['instances'] if i['enrol'] == 'manual'}
    return sorted(ue['userid'] for ue in state['userenrolments'] if ue['enrolid'] in manual)


# ----- encoding and errors -------------------------------------------------------------
def test_void_function_answers_json_null_and_xml_empty_response(sim):
    response = rest(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows([35])})
    assert response.text == 'null'
    response = rest(sim.url, sim.token, 'enrol_manual_unenrol_users',
                    {'enrolments': [{'userid': 35, 'courseid': KA1}]}, fmt=None)
    assert response.text == '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n</RESPONSE>\n'


def test_unknown_function_is_missing_record(sim):
    answer = call(sim.url, sim.token, 'core_no_such_function')
    assert answer == {'exception': 'dml_missing_record_exception', 'errorcode': 'invalidrecord',
                      'message': "Can't find data record in database table external_functions."}


def test_function_outside_the_service_is_accessexception(sim):
    sim.add_token('limited', functions=['core_webservice_get_site_info'])
    answer = call(sim.url, 'limited', 'core_course_get_courses_by_field', {'field': 'id', 'value': 2})
    assert answer['errorcode'] == 'accessexception'
    info = call(sim.url, 'limited', 'core_webservice_get_site_info')
    assert [f['name'] for f in info['functions']] == ['core_webservice_get_site_info']


def test_unknown_and_missing_keys_are_invalidparameter_and_apply_nothing(sim):
    extra = call(sim.url, sim.token, 'enrol_manual_enrol_users',
                 {'enrolments': [{'roleid': 5, 'userid': 35, 'courseid': KA1, 'bogus': 1}]})
    missing = call(sim.url, sim.token, 'local_keepaccess_apply_manual_enrolments', {'enrolments': [{'userid': 35}]})
    not_int = call(sim.url, sim.token, 'enrol_manual_enrol_users',
                   {'enrolments': [{'roleid': 'five', 'userid': 35, 'courseid': KA1}]})
    for answer in (extra, missing, not_int):
        assert answer == {'exception': 'core\\exception\\invalid_parameter_exception',
                          'errorcode': 'invalidparameter', 'message': 'Invalid parameter value detected'}
    assert manual_userids(sim) == []


def test_missing_capability_names_it_in_moodles_words(sim):
    sim.add_token('noreview', missing_capabilities=['moodle/course:enrolreview'])
    answer = call(sim.url, 'noreview', 'local_keepaccess_get_course_enrolments', {'courseid': KA1})
    assert answer == {'exception': 'core\\exception\\required_capability_exception', 'errorcode': 'nopermissions',
                      'message': 'Sorry, but you do not currently have permissions to do that '
                                 '(Review course enrolments).'}


def test_get_works_like_post_and_put_sees_no_fields(sim):
    fields = [('wstoken', sim.token), ('wsfunction', 'core_course_get_courses_by_field'),
              ('moodlewsrestformat', 'json'), ('field', 'id'), ('value', '2')]
    assert send_fields(sim.url, fields, 'GET').json()['courses'][0]['shortname'] == 'KA1'
    put = send_fields(sim.url, fields, 'PUT')
    assert '<ERRORCODE>invalidtoken</ERRORCODE>' in put.text


def test_site_info_reports_the_simulated_version(sim):
    sim.reset('recorded', '5.1')
    info = call(sim.url, sim.token, 'core_webservice_get_site_info')
    assert (info['release'], info['version'], info['siteurl']) == ('5.1.3 (Build: 20260216)', '2025100603', sim.url)
    versions = {f['name']: f['version'] for f in info['functions']}
    assert versions['local_keepaccess_get_course_enrolments'] == '2026120200'
    assert versions['enrol_manual_enrol_users'] == '2025100603'


# ----- max_input_vars ------------------------------------------------------------------------
def test_1700_rows_apply_only_the_first_1666_silently(sim):
    users = list(range(104, 1804))
    response = rest(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows(users, 6)})
    assert response.text == 'null'
    assert manual_userids(sim, 6) == users[:1666]
    assert sim.calls()[-1] == {'function': 'enrol_manual_enrol_users', 'rows': 1666, 'errorcode': None,
                               'fault': None}


def test_1665_rows_fit(sim):
    users = list(range(104, 1769))
    assert rest(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows(users, 6)}).text == 'null'
    assert manual_userids(sim, 6) == users


def test_cut_inside_a_row_is_invalidparameter_and_applies_nothing(sim):
    sim.configure(max_input_vars=10)       # 3 ws fields + 8 kept: row 2 loses its courseid
    answer = call(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows([35, 36, 37])})
    assert answer['errorcode'] == 'invalidparameter'
    assert manual_userids(sim) == []


def test_ws_fields_after_the_cut_give_xml_invalidtoken(sim):
    sim.configure(max_input_vars=4)
    fields = [('field', 'id'), ('value', '2'), ('a', '1'), ('b', '2'), ('c', '3'),
              ('wstoken', sim.token), ('wsfunction', 'core_course_get_courses_by_field'),
              ('moodlewsrestformat', 'json')]
    assert '<ERRORCODE>invalidtoken</ERRORCODE>' in send_fields(sim.url, fields).text


# ----- faults -------------------------------------------------------------------------------
def test_http500_answers_500_and_applies_nothing(sim):
    sim.fault('http500', function='enrol_manual_enrol_users')
    response = rest(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows([35])})
    assert response.status_code == 500
    assert manual_userids(sim) == []
    assert rest(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows([35])}).text == 'null'


def test_drop_before_closes_without_applying(sim):
    sim.fault('drop_before')
    with pytest.raises(requests.ConnectionError):
        rest(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows([35])})
    assert manual_userids(sim) == []


def test_drop_after_applies_then_closes(sim):
    sim.fault('drop_after', function='enrol_manual_enrol_users')
    with pytest.raises(requests.ConnectionError):
        rest(sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows([35])})
    assert manual_userids(sim) == [35]
    assert sim.calls()[-1]['fault'] == 'drop_after'


def test_fault_after_and_count(sim):
    sim.fault('http503', function='core_webservice_get_site_info', after=1, count=2)
    codes = [rest(sim.url, sim.token, 'core_webservice_get_site_info').status_code for _call in range(4)]
    assert codes == [200, 503, 503, 200]


def test_slow_delays_the_answer(sim):
    sim.fault('slow', seconds=0.3)
    started = time.monotonic()
    rest(sim.url, sim.token, 'core_webservice_get_site_info')
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        sim.fault('slow', seconds=0.5)
        rest(sim.url, sim.token, 'core_webservice_get_site_info', timeout=0.1)
    # The server still answers the call the client gave up on: wait for it, so no later test meets it.
    assert [c['function'] for c in sim.wait_for_calls(2)] == ['core_webservice_get_site_info'] * 2


@pytest.fixture
def held_slow_call(sim, monkeypatch):
    """A REST call held inside the simulator (in its `slow` fault) until the test lets it go.

    Yields (running, release, answer): `running` is set once the server works on the call, `release()` lets it
    finish, `answer` is the client's future. The fault's sleep is replaced by a wait on an event, so no timing
    decides what happens first.
    """
    running, go_on = threading.Event(), threading.Event()

    def held(_seconds):
        running.set()
        assert go_on.wait(30), 'the test never released the held call'

    monkeypatch.setattr(simulator_server, 'time', types.SimpleNamespace(sleep=held))
    sim.fault('slow', seconds=1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        answer = pool.submit(rest, sim.url, sim.token, 'enrol_manual_enrol_users', {'enrolments': enrol_rows([35])})
        assert running.wait(30), 'the call never reached the simulator'
        try:
            yield running, go_on.set, answer, pool
        finally:
            go_on.set()


@pytest.mark.parametrize('rebuild', ['reset', 'load_state'])
def test_rebuilding_the_site_waits_for_a_running_call_so_the_new_site_starts_clean(sim, held_slow_call, rebuild):
    """A call whose client timed out still runs: it must not write to, or be logged in, the site built next."""
    _running, release, answer, pool = held_slow_call
    clean_state = sim.dump_state()
    rebuilt = pool.submit(sim.reset, 'recorded', '4.5') if rebuild == 'reset' else \
        pool.submit(sim.load_state, clean_state)
    release()
    rebuilt.result(30)
    assert answer.result(30).text == 'null'          # answered, by the old site
    assert manual_userids(sim) == [], 'the held call enrolled user 35 in the new site'
    if rebuild == 'reset':
        assert sim.calls() == [], 'the held call was logged in the new site'


def test_wait_until_idle_waits_for_the_running_call(sim, held_slow_call):
    _running, release, answer, pool = held_slow_call
    assert sim.wait_until_idle(timeout=0) is False
    waiting = pool.submit(sim.wait_until_idle)
    release()
    assert waiting.result(30) is True
    assert answer.result(30).text == 'null' and manual_userids(sim) == [35]


def test_revoke_token_invalidates_it_from_the_next_call(sim):
    sim.fault('revoke_token')
    assert 'sitename' in call(sim.url, sim.token, 'core_webservice_get_site_info')
    assert call(sim.url, sim.token, 'core_webservice_get_site_info')['errorcode'] == 'invalidtoken'


# ----- concurrency, control API, CLI ----------------------------------------------------------
def test_parallel_clients_lose_no_write(sim):
    users = list(range(104, 304))
    batches = [users[i:i + 20] for i in range(0, len(users), 20)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda b: rest(sim.url, sim.token, 'local_keepaccess_apply_manual_enrolments',
                                               {'courseid': 6, 'enrolments': [{'userid': u} for u in b]}).json(),
                                batches))
    assert sorted(row['userid'] for answer in answers for row in answer) == users
    assert manual_userids(sim, 6) == users


def test_call_log_never_holds_the_token(sim):
    rest(sim.url, sim.token, 'core_webservice_get_site_info')
    assert sim.token not in repr(sim.calls()) and sim.token not in repr(sim.token_info())


def test_control_api_over_http(sim):
    userid = control(sim.url, 'add_user', username='newbie', firstname='New', lastname='Bie')
    control(sim.url, 'enrol', instanceid=sim.manual_instance(KA1)['id'], userid=userid)
    assert userid in manual_userids(sim)
    dumped = control(sim.url, 'state', 'GET')
    control(sim.url, 'reset', fixture='empty')
    courses = call(sim.url, sim.token, 'core_course_get_courses_by_field')['courses']
    assert [c['format'] for c in courses] == ['site']       # only the front page is left
    control(sim.url, 'state', state=dumped)
    assert userid in manual_userids(sim)
    assert control(sim.url, 'calls', 'GET')[-1]['function'] == 'core_course_get_courses_by_field'
    assert control(sim.url, 'wait_until_idle', timeout=5) is True
    assert control(sim.url, 'wait_for_calls', count=1, timeout=5)[-1]['function'] == 'core_course_get_courses_by_field'
    response = requests.post(sim.url + '/_sim/no_such_op', json={}, timeout=5)
    assert response.status_code == 404


def test_cli_prints_the_url_and_serves():
    command = [sys.executable, '-m', 'tests.simulator', '--fixture', 'demo', '--version', '5.1', '--token', 'clitoken']
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().strip()
            assert url.startswith('http://127.0.0.1:')
            assert call(url, 'clitoken', 'core_webservice_get_site_info')['release'].startswith('5.1')
        finally:
            process.terminate()
            process.wait(10)
