# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replay every real Moodle recording (../shared/moodle-ws) against the simulator's `recorded` fixture.

Each recorded request is sent over HTTP as recorded (POST; GET for *.http_get.*,
PUT for *.http_put.*; the token substituted) and the answer must have the same
shape and the same values, apart from timestamps, cache revisions, the private
access key, host:port and theme revisions in URLs. Trimmed recorded lists are a
prefix of the answer, whose full length the note states. Mutating cases run
after the cases recorded before them, in the READMEs' order, and their notes'
side effects are checked.
"""

from __future__ import annotations

import glob
import json
import os
import re

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import HISTORY_FUNCTIONS
from tests.simulator import Simulator
from tests.simulator.client import send_fields

# The recordings were made with local_keepaccess before 2026120110; the simulator's service holds the
# functions that version added too (history and course claims), so site info lists that many more.
SITE_INFO = 'core_webservice_get_site_info'
ADDED_SINCE_RECORDING = {SITE_INFO: len(HISTORY_FUNCTIONS)}

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORDINGS = os.path.join(os.path.dirname(REPO_ROOT), 'shared', 'moodle-ws')
VERSION_DIRS = {'4.5': RECORDINGS, '5.1': os.path.join(RECORDINGS, '5.1')}
IGNORED_KEYS = frozenset(('timecreated', 'timemodified', 'cacherev', 'userprivateaccesskey'))
KA1, USER35 = 2, 35

# Mutating cases in the order they were recorded (README.md of each directory).
MUTATING_ORDER = (
    'enrol_manual_enrol_users.ok', 'enrol_manual_enrol_users.suspend', 'enrol_manual_enrol_users.wsnoinstance',
    'enrol_manual_enrol_users.invalidrole_99', 'enrol_manual_enrol_users.invalidrole_frontpage',
    'enrol_manual_enrol_users.invaliduser', 'enrol_manual_enrol_users.invaliduser_nowelcome',
    'enrol_manual_enrol_users.missingkey', 'enrol_manual_enrol_users.batch_one_bad_row',
    'enrol_manual_unenrol_users.ok', 'enrol_manual_enrol_users.suspendeduser',
    'enrol_manual_enrol_users.deleteduser', 'enrol_manual_enrol_users.unconfirmeduser',
    'enrol_manual_enrol_users.guestuser',
)


def ka1_manual_instance(sim):
    """KA1's manual instance id."""
    return sim.manual_instance(KA1)['id']


# What the recording's SQL did before a case, and undid after it.
SETUP = {
    'enrol_manual_enrol_users.invaliduser_nowelcome': (
        lambda sim: sim.update_instance(ka1_manual_instance(sim), customint1=0),
        lambda sim: sim.update_instance(ka1_manual_instance(sim), customint1=1)),
    'enrol_manual_enrol_users.suspendeduser': (
        lambda sim: sim.set_user_flags(36, suspended=True), lambda sim: sim.set_user_flags(36, suspended=False)),
    'enrol_manual_enrol_users.deleteduser': (
        lambda sim: sim.set_user_flags(38, deleted=True), lambda sim: sim.set_user_flags(38, deleted=False)),
    'enrol_manual_enrol_users.unconfirmeduser': (
        lambda sim: sim.set_user_flags(39, confirmed=False), lambda sim: sim.set_user_flags(39, confirmed=True)),
}


def manual_rows(sim, courseid, userid):
    """The user's enrolments in the course's manual instance."""
    state = sim.course_enrolments(courseid)
    manual = {i['id'] for i in state['instances'] if i['enrol'] == 'manual'}
    return [ue for ue in state['userenrolments'] if ue['userid'] == userid and ue['enrolid'] in manual]


def check_ok(sim):
    rows = manual_rows(sim, KA1, USER35)
    assert [(r['status'], r['timestart'], r['timeend']) for r in rows] == [(0, 0, 0)]
    roles = [(ra['roleid'], ra['component']) for ra in sim.course_enrolments(KA1)['roleassignments']
             if ra['userid'] == USER35]
    assert roles == [(5, '')]


# The side effects each note states, beyond the welcome counts (parsed from the notes).
SIDE_EFFECTS = {
    'enrol_manual_enrol_users.ok': check_ok,
    'enrol_manual_enrol_users.suspend': lambda sim: [r['status'] for r in manual_rows(sim, KA1, USER35)] == [1],
    'enrol_manual_enrol_users.invaliduser': lambda sim: manual_rows(sim, KA1, 999999) == [],
    'enrol_manual_enrol_users.invaliduser_nowelcome': lambda sim: manual_rows(sim, KA1, 999999) == [],
    'enrol_manual_enrol_users.batch_one_bad_row':
        lambda sim: manual_rows(sim, KA1, 36) == [] and manual_rows(sim, KA1, 37) == [],
    'enrol_manual_unenrol_users.ok': lambda sim: manual_rows(sim, KA1, USER35) == [],
    'enrol_manual_enrol_users.suspendeduser': lambda sim: [r['status'] for r in manual_rows(sim, KA1, 36)] == [0],
    'enrol_manual_enrol_users.deleteduser': lambda sim: manual_rows(sim, KA1, 38) == [],
    'enrol_manual_enrol_users.unconfirmeduser': lambda sim: manual_rows(sim, KA1, 39) == [],
    'enrol_manual_enrol_users.guestuser': lambda sim: manual_rows(sim, KA1, 1) == [],
}


def recording_files():
    """(version, path) of every recording, or nothing when shared/ is absent."""
    return [(version, path) for version, directory in VERSION_DIRS.items()
            for path in sorted(glob.glob(os.path.join(directory, '*.json')))]


pytestmark = pytest.mark.skipif(not os.path.isdir(RECORDINGS),
                                reason='recordings not found at %s (shared/ beside the repository)' % RECORDINGS)


def case_name(path):
    """'<function>.<case>' from '<function>.<case>.<ok|error>.json'; '<function>.ok' has no case."""
    parts = os.path.basename(path)[:-len('.json')].split('.')
    return '.'.join(parts[:2])


@pytest.fixture(scope='module')
def simulators():
    """One running simulator per version."""
    sims = {version: Simulator(version=version, fixture='recorded').start() for version in VERSION_DIRS}
    yield sims
    for sim in sims.values():
        sim.stop()


def send_recorded(sim, recording):
    """Send the recorded request; return (status, parsed JSON or raw text)."""
    fields = [(k, sim.token if v == '<TOKEN>' else v) for k, v in recording['request'].items()]
    stem = recording['_file']
    method = 'GET' if '.http_get.' in stem else 'PUT' if '.http_put.' in stem else 'POST'
    response = send_fields(sim.url, fields, method)
    if isinstance(recording['response'], str):
        return response.status_code, response.text
    return response.status_code, json.loads(response.text)


def normalize_text(text, sim):
    """Hide host:port and theme revisions in URLs."""
    text = re.sub(r'http://127\.0\.0\.1:80(80|81)', '<SITE>', text).replace(sim.url, '<SITE>')
    return re.sub(r'/theme/image\.php/boost/core/\d+/', '/theme/image.php/boost/core/<REV>/', text)


def normalize_xml(text, sim):
    """XML with timestamps and cache revisions hidden."""
    text = normalize_text(text, sim)
    return re.sub(r'(<KEY name="(?:%s)"><VALUE>)\d+(</VALUE>)' % '|'.join(IGNORED_KEYS), r'\1<IGNORED>\2', text)


def trimmed_sizes(note, added=0):
    """(shown, total) when the note says a list was trimmed to its first N of M entries (+ ``added`` since)."""
    match = re.search(r'first (\d+) of (\d+)', note)
    return (int(match.group(1)), int(match.group(2)) + added) if match else None


def assert_same(recorded, actual, sim, trim, where='response'):
    """Same shape and values (see the module docstring)."""
    if isinstance(recorded, dict):
        assert isinstance(actual, dict), '%s: expected an object, got %r' % (where, actual)
        assert list(actual) == list(recorded), '%s: keys differ' % where
        for key, value in recorded.items():
            if key not in IGNORED_KEYS:
                assert_same(value, actual[key], sim, trim, '%s.%s' % (where, key))
    elif isinstance(recorded, list):
        assert isinstance(actual, list), '%s: expected a list, got %r' % (where, actual)
        if len(recorded) != len(actual):
            assert trim == (len(recorded), len(actual)), \
                '%s: %d entries, recorded %d (trim %s)' % (where, len(actual), len(recorded), trim)
        for index, value in enumerate(recorded):
            assert_same(value, actual[index], sim, trim, '%s[%d]' % (where, index))
    elif isinstance(recorded, str):
        assert isinstance(actual, str) and normalize_text(actual, sim) == normalize_text(recorded, sim), \
            '%s: %r != recorded %r' % (where, actual, recorded)
    else:
        assert actual == recorded and type(actual) is type(recorded), \
            '%s: %r != recorded %r' % (where, actual, recorded)


def load(path):
    """A recording with its file name."""
    with open(path, encoding='utf-8') as handle:
        recording = json.load(handle)
    recording['_file'] = os.path.basename(path)
    return recording


def replay(sim, version, name):
    """Send one mutating case with its setup/teardown; return (status, answer, welcome before, after)."""
    path = next(p for v, p in recording_files() if v == version and case_name(p) == name)
    setup, teardown = SETUP.get(name, (None, None))
    if setup:
        setup(sim)
    before = len(sim.messages())
    status, answer = send_recorded(sim, load(path))
    after = len(sim.messages())
    if teardown:
        teardown(sim)
    return status, answer, before, after


def mutating_cases(version):
    """The version's mutating cases in recording order."""
    present = {case_name(p) for v, p in recording_files() if v == version}
    return [name for name in MUTATING_ORDER if name in present]


@pytest.mark.parametrize('version,path', recording_files(),
                         ids=['%s/%s' % (v, os.path.basename(p)) for v, p in recording_files()])
def test_recording_replays(simulators, version, path):
    sim = simulators[version]
    sim.reset('recorded', version)
    recording = load(path)
    name = case_name(path)
    is_mutating = recording['function'].startswith('enrol_manual_')
    if is_mutating:
        assert name in MUTATING_ORDER, 'new mutating recording %s: add it to MUTATING_ORDER' % name
        order = mutating_cases(version)
        for earlier in order[:order.index(name)]:
            replay(sim, version, earlier)
        status, answer, before, after = replay(sim, version, name)
    else:
        status, answer = send_recorded(sim, recording)
        before = after = 0
    assert status == recording['http_status']
    if isinstance(recording['response'], str):
        assert normalize_xml(answer, sim) == normalize_xml(recording['response'], sim)
    else:
        assert_same(recording['response'], answer, sim, trimmed_sizes(recording['note'],
                                                                      ADDED_SINCE_RECORDING.get(recording['function'], 0)))
    welcome = re.search(r'welcome notifications (\d+) -> (\d+)', recording['note'])
    if welcome:
        assert (before, after) == (int(welcome.group(1)), int(welcome.group(2)))
    elif is_mutating and recording['response'] is not None:
        assert after == before, 'a failed call sent welcome messages'
    if name in SIDE_EFFECTS:
        assert SIDE_EFFECTS[name](sim) is not False
