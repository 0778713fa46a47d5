# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live Moodle 4.5 site's answers (tests/simulator/recorded_live/) replayed against the simulator, offline.

tests/live/test_simulator_parity.py compares the simulator with the real site when one is
configured; these snapshots keep what it established true in CI. Each snapshot's request goes to the
simulator's `recorded` fixture with a token of the least-privilege service user, as on the real site
(the ids of users, courses and instances are the same on both). Answers must be equal apart from
the host:port, the theme revision in URLs, the private access key, user enrolment and role
assignment ids (new on every fixture rebuild), and the values where the recordings win
(recorded_live.RECORDINGS_WIN_*).
"""

from __future__ import annotations

import os
import re

import pytest

from tests.simulator import Simulator
from tests.simulator.client import send_fields
from tests.simulator.recorded_live import (FIELDS_SINCE, RECORDINGS_WIN_ROLES, RECORDINGS_WIN_VALUES, load,
                                           snapshot_paths, superseded_path)
from tests.simulator.registry import PLUGIN_VERSION

TOKEN = 'parity-facts-service-token-01'
# The live site's names that the recordings replace (sitename, category name): live value -> recorded value.
LIVE_NAMES = {'KeepAccess test Moodle 4.5': RECORDINGS_WIN_VALUES['sitename'],
              'cemu.moodle live fixtures': RECORDINGS_WIN_VALUES['categoryname']}
URL_NOISE = ((re.compile(r'http://127\.0\.0\.1:\d+'), '<SITE>'),
             (re.compile(r'/theme/image\.php/boost/core/\d+/'), '/theme/image.php/boost/core/<REV>/'),
             (re.compile(r'/pluginfile\.php/\d+/course/'), '/pluginfile.php/<CONTEXT>/course/'))   # recordings win
ROW_LISTS = ('userenrolments', 'roleassignments')
PAGED = [p for p in snapshot_paths() if 'pages' in load(p)]
ANSWERED = [p for p in snapshot_paths() if 'response' in load(p)]


def recorded_site(simulator):
    """The `recorded` fixture with the service user's token."""
    simulator.reset('recorded', '4.5')
    simulator.add_service_token(TOKEN)
    return simulator


@pytest.fixture(scope='module')
def sim():
    """One site for the module: every test but one only reads; that one rebuilds the site after its write."""
    simulator = recorded_site(Simulator(version='4.5', fixture='recorded').start())
    yield simulator
    simulator.stop()


def ask(sim, snapshot, **changes):
    """The snapshot's request (with changes) sent to the simulator with the service user's token."""
    fields = dict(snapshot['request'], **changes)
    fields['wstoken'] = TOKEN if fields['wstoken'] == '<TOKEN>' else fields['wstoken']
    response = send_fields(sim.url, list(fields.items()))
    assert response.status_code == 200
    return response.json()


def normalise(value):
    """Strip what legitimately differs between two sites and two fixture builds."""
    if isinstance(value, dict):
        cleaned = dict((key, normalise(item)) for key, item in value.items() if key != 'userprivateaccesskey')
        for key in ROW_LISTS:
            if key in cleaned:
                cleaned[key] = [dict((k, v) for k, v in row.items() if k != 'id') for row in cleaned[key]]
        return cleaned
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, str):
        for pattern, replacement in URL_NOISE:
            value = pattern.sub(replacement, value)
        return LIVE_NAMES.get(value, value)
    return value


def without_recordings_win_roles(answer, course):
    """The live answer without the role assignments the recordings leave out (see recorded_live)."""
    skipped = RECORDINGS_WIN_ROLES.get(course, {})
    usernames = dict((ue['userid'], ue['username']) for ue in answer['userenrolments'])
    answer['roleassignments'] = [
        ra for ra in answer['roleassignments']
        if skipped.get(usernames.get(ra['userid'])) != (ra['roleshortname'], ra['component'])]
    return answer


def live_view(snapshot):
    answer = normalise(snapshot['response'])
    if isinstance(answer, dict) and 'roleassignments' in answer:
        answer = without_recordings_win_roles(answer, answer['course']['shortname'])
    if snapshot['function'] == 'core_course_get_categories' and isinstance(answer, list):
        for category in answer:
            if category['id'] == 1:
                category.pop('coursecount')   # the live site's cached counter says 1; no course is in it
    return answer


def sim_view(answer, snapshot):
    return live_view(dict(snapshot, response=as_recorded_plugin(answer, snapshot['response'])))


def as_recorded_plugin(answer, recorded):
    """The simulator's answer as the plugin version the snapshot was taken with gives it: without the fields
    added since (recorded_live.FIELDS_SINCE), without the plugin's functions added since (the recorded
    service does not list them), and with the recorded version numbers of the plugin."""
    if isinstance(answer, dict) and isinstance(recorded, dict) and 'pluginversion' in recorded:
        answer = dict((key, value) for key, value in answer.items()
                      if FIELDS_SINCE.get(key, 0) <= recorded['pluginversion'])
        answer['pluginversion'] = recorded['pluginversion'] if answer.get('pluginversion') == PLUGIN_VERSION \
            else answer.get('pluginversion')
    if isinstance(answer, dict) and isinstance(recorded, dict) and isinstance(answer.get('functions'), list):
        versions = dict((f['name'], f['version']) for f in recorded.get('functions', []))
        answer = dict(answer, functions=[
            dict(f, version=versions.get(f['name'], f['version']))
            if f['name'].startswith('local_keepaccess_') and f['version'] == str(PLUGIN_VERSION) else f
            for f in answer['functions'] if f['name'] in versions or not f['name'].startswith('local_keepaccess_')])
    return answer


@pytest.mark.parametrize('path', ANSWERED, ids=os.path.basename)
def test_simulator_answers_like_the_live_site(sim, path):
    snapshot = load(path)
    assert sim_view(ask(sim, snapshot), snapshot) == live_view(snapshot), snapshot['note']


@pytest.mark.parametrize('path', PAGED, ids=os.path.basename)
def test_simulator_pages_like_the_live_site(sim, path):
    snapshot = load(path)
    pages, fromuserid = [], 0
    while True:
        page = ask(sim, snapshot, fromuserid=str(fromuserid))
        pages.append({'fromuserid': fromuserid, 'users': len(set(ue['userid'] for ue in page['userenrolments'])),
                      'nextfromuserid': page['nextfromuserid']})
        fromuserid = page['nextfromuserid']
        if not fromuserid:
            break
    assert pages == snapshot['pages']


# ----- the facts the live comparison established, spelled out ----------------------------------------
def snapshot_named(name):
    return load(next(p for p in snapshot_paths() if os.path.basename(p) == name))


def test_site_time_zone_is_europe_london(sim):
    snapshot = snapshot_named('local_keepaccess_get_course_enrolments.KA1.ok.json')
    assert snapshot['response']['timezone'] == ask(sim, snapshot)['timezone'] == 'Europe/London'


def test_courses_keep_the_guest_and_self_instances_create_course_adds(sim):
    snapshot = snapshot_named('local_keepaccess_get_course_enrolments.KA1.ok.json')
    expected = [('manual', 0, 5), ('guest', 1, 0), ('self', 1, 5), ('database', 0, 0)]
    for answer in (snapshot['response'], ask(sim, snapshot)):
        assert [(i['enrol'], i['status'], i['roleid']) for i in answer['instances']] == expected


def test_big1_holds_2000_students_and_nobody_else(sim):
    snapshot = snapshot_named('local_keepaccess_get_course_enrolments.BIG1_paging.ok.json')
    assert [page['users'] for page in snapshot['pages']] == [700, 700, 600]
    lookup = ask(sim, snapshot_named('core_course_get_courses_by_field.shortname_KA1.ok.json'), value='BIG1')
    assert lookup['courses'][0]['contacts'] == []


def test_service_user_may_not_assign_manager(sim):
    # The live site refused manager to the service user (plugin 2026112900: cannotassignrole for the call);
    # since 2026120100 the read says so in advance and the apply skips the role for that row only.
    snapshot = load(superseded_path('local_keepaccess_apply_manual_enrolments.manager_not_assignable.error.json'))
    assert snapshot['response']['errorcode'] == 'cannotassignrole'
    read = snapshot_named('local_keepaccess_get_course_enrolments.KA1.ok.json')
    assert 1 not in ask(sim, read)['assignableroles']
    try:
        [row] = ask(sim, snapshot)
        assert (row['rolesassigned'], row['rolesskipped']) == ([], [1])
        admin = send_fields(sim.url, list(dict(snapshot['request'], wstoken=sim.token).items())).json()
    finally:
        recorded_site(sim)      # these writes must not reach the tests after this one
    assert [row['rolesassigned'] for row in admin] == [[1]], 'the admin token may assign manager'


def test_course_answers_to_the_service_user_leave_out_manager_fields(sim):
    snapshot = snapshot_named('core_course_get_courses_by_field.shortname_KA1.ok.json')
    for answer in (snapshot['response'], ask(sim, snapshot)):
        assert not set(answer['courses'][0]) & {'idnumber', 'timecreated', 'cacherev'}
