# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""local_keepaccess's history and course claims: the simulator follows the plugin's source, and behaves so
that a run from any controller knows what earlier runs did and two runs never write one course at once."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import pytest

from tests.simulator import Simulator
from tests.simulator import functions_history
from tests.simulator.client import call
from tests.simulator.companion import PLUGIN_DIR

KA1, KA2 = 2, 3
PROBE, OTHER = 45, 46                # student0101, student0102: in KA2 only, no manual enrolment in KA1
STUDENT, TEACHER = 5, 4
T1, T2 = 1800000000, 1900000000


def php(relative):
    with open(os.path.join(PLUGIN_DIR, relative), encoding='utf-8') as handle:
        return handle.read()


def php_constant(source, name):
    return re.search(r'const %s = ([^;]+);' % name, source, re.S).group(1)


# ----- the simulator follows the PHP source ---------------------------------------------------------------
def test_history_fields_are_the_tables_and_the_answers():
    table = ET.fromstring(php('db/install.xml')).find(".//TABLE[@NAME='local_keepaccess_history']")
    assert tuple(field.get('NAME') for field in table.iter('FIELD')) == functions_history.HISTORY_FIELDS
    assert tuple(re.findall(r"'(\w+)'", php_constant(php('classes/local/history.php'), 'FIELDS'))) == \
        functions_history.HISTORY_FIELDS


def test_claim_limits_and_retention_are_the_plugins():
    guard = php('classes/local/course_guard.php')
    assert int(php_constant(guard, 'MAX_SECONDS')) == functions_history.MAX_SECONDS
    assert int(php_constant(guard, 'MAX_RUNID')) == functions_history.MAX_RUNID
    assert int(php_constant(php('classes/local/history.php'), 'DEFAULT_RETENTION')) == \
        functions_history.DEFAULT_RETENTION


def test_the_upgrade_step_creates_both_tables_at_the_version_that_brought_them():
    version = int(re.search(r'\$plugin->version\s*=\s*(\d+);', php('version.php')).group(1))
    upgrade = php('db/upgrade.php')
    history_version = 2026120110          # the history and lease tables came with 1.2.0
    assert history_version <= version
    assert 'if ($oldversion < %s)' % history_version in upgrade
    assert "upgrade_plugin_savepoint(true, %s," % history_version in upgrade
    tables = re.findall(r"'(local_keepaccess_\w+)'", upgrade)
    assert sorted(tables) == sorted(t.get('NAME') for t in ET.fromstring(php('db/install.xml')).iter('TABLE'))


# ----- behaviour ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='recorded').start()
    yield sim
    sim.stop()


class Site:
    """The recorded fixture, fresh for each test, called with the least-privilege service user's token."""

    def __init__(self, sim):
        sim.reset('recorded', '4.5')
        self.sim = sim
        self.token = 'history-service-token-0000001'
        sim.add_service_token(self.token)

    def call(self, function, **params):
        return call(self.sim.url, self.token, 'local_keepaccess_' + function, params)

    def ok(self, function, **params):
        answer = self.call(function, **params)
        assert not (isinstance(answer, dict) and 'errorcode' in answer), answer
        return answer

    def error(self, function, **params):
        answer = self.call(function, **params)
        assert isinstance(answer, dict) and 'errorcode' in answer, answer
        return answer

    def history(self, courseid=KA1):
        return self.ok('get_course_history', courseid=courseid)['records']

    def manual(self, courseid, userid):
        rows = [ue for ue in self.sim.course_enrolments(courseid)['userenrolments']
                if ue['userid'] == userid and ue['enrol'] == 'manual']
        return (rows[0]['status'], rows[0]['timestart'], rows[0]['timeend']) if rows else None


@pytest.fixture
def site(server):
    return Site(server)


def changes(records):
    """(userid, runid, step, before, after, rolesbefore, rolesafter) of history records."""
    return [(r['userid'], r['runid'], r['step'],
             (r['hadbefore'], r['statusbefore'], r['timestartbefore'], r['timeendbefore']),
             (r['hasafter'], r['statusafter'], r['timestartafter'], r['timeendafter']),
             r['rolesbefore'], r['rolesafter']) for r in records]


def test_each_write_records_what_it_changed_and_a_write_that_changes_nothing_records_nothing(site):
    site.ok('claim_course', courseid=KA1, runid='run-a')
    rows = [{'userid': PROBE, 'timestart': T1, 'roleids': [STUDENT]}, {'userid': OTHER, 'timeend': T2}]
    site.ok('apply_manual_enrolments', courseid=KA1, enrolments=rows, runid='run-a', step='restore')
    site.ok('apply_manual_enrolments', courseid=KA1, enrolments=rows, runid='run-a', step='restore')
    site.ok('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'timeend': T2}],
            runid='run-a', step='enddate')
    assert changes(site.history()) == [
        (PROBE, 'run-a', 'restore', (0, 0, 0, 0), (1, 0, T1, 0), '', '5'),
        (OTHER, 'run-a', 'restore', (0, 0, 0, 0), (1, 0, 0, T2), '', ''),
        (PROBE, 'run-a', 'enddate', (1, 0, T1, 0), (1, 0, T1, T2), '5', '5'),
    ]
    assert all(record['courseid'] == KA1 and record['timecreated'] > 0 for record in site.history())


def test_a_removal_records_the_enrolment_and_roles_it_took_away(site):
    site.ok('apply_manual_enrolments', courseid=KA1,
            enrolments=[{'userid': PROBE, 'timeend': T2, 'roleids': [STUDENT, TEACHER]}])
    site.ok('remove_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'roleids': [TEACHER]}],
            step='revert')
    site.ok('remove_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'unenrol': 1}], step='revert')
    assert changes(site.history())[1:] == [
        (PROBE, '', 'revert', (1, 0, 0, T2), (1, 0, 0, T2), '4,5', '5'),
        (PROBE, '', 'revert', (1, 0, 0, T2), (0, 0, 0, 0), '5', ''),     # the last enrolment takes its roles
    ]


def test_a_refused_write_leaves_neither_the_change_nor_its_history(site):
    answer = site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': PROBE, 'timeend': T2}, {'userid': OTHER, 'timestart': T2, 'timeend': T1}])
    assert answer['errorcode'] == 'invalidtimes'
    assert site.history() == [] and site.manual(KA1, PROBE) is None


def test_history_pages_by_id_and_stays_per_course(site):
    for userid in (PROBE, OTHER):
        site.ok('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': userid}])
    first = site.ok('get_course_history', courseid=KA1, maxrecords=1)
    rest = site.ok('get_course_history', courseid=KA1, fromid=first['nextfromid'], maxrecords=1)
    assert [r['userid'] for r in first['records'] + rest['records']] == [PROBE, OTHER]
    assert rest['nextfromid'] == rest['records'][0]['id']      # a full page: ask again
    assert site.ok('get_course_history', courseid=KA1, fromid=rest['nextfromid'], maxrecords=1) == \
        {'records': [], 'nextfromid': 0}
    assert site.history(KA2) == []
    assert site.error('get_course_history', courseid=KA1, maxrecords=-1)['errorcode'] == 'invalidhistorypaging'


def test_a_claimed_course_refuses_every_other_writer_and_names_the_holder(site):
    claim = site.ok('claim_course', courseid=KA1, runid='awx-job-17', seconds=600)
    assert (claim['runid'], claim['renewed']) == ('awx-job-17', 0)
    refused = site.error('claim_course', courseid=KA1, runid='cron-0300')
    assert refused['errorcode'] == 'courseclaimed'
    assert 'awx-job-17' in refused['message'] and 'course %d' % KA1 in refused['message'].lower()
    for runid in ('cron-0300', ''):
        answer = site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}], runid=runid)
        assert answer['errorcode'] == 'courseclaimed'
        assert site.error('remove_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'unenrol': 1}],
                          runid=runid)['errorcode'] == 'courseclaimed'
    assert site.manual(KA1, PROBE) is None and site.history() == []
    site.ok('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}], runid='awx-job-17')
    assert site.ok('claim_course', courseid=KA1, runid='awx-job-17')['renewed'] == 1
    assert site.ok('release_course', courseid=KA1, runid='cron-0300')['released'] == 0     # not its claim
    assert site.ok('release_course', courseid=KA1, runid='awx-job-17')['released'] == 1
    assert site.ok('claim_course', courseid=KA1, runid='cron-0300')['renewed'] == 0
    assert site.ok('claim_course', courseid=KA2, runid='awx-job-17')['courseid'] == KA2    # claims are per course


def test_a_write_naming_a_run_needs_that_runs_claim(site):
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}],
                      runid='run-a')['errorcode'] == 'claimrequired'
    site.ok('claim_course', courseid=KA1, runid='run-a', seconds=60)
    site.sim.shift_clock(61)                                    # the run stopped renewing its claim
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}],
                      runid='run-a')['errorcode'] == 'claimrequired'
    assert site.ok('claim_course', courseid=KA1, runid='run-b')['runid'] == 'run-b'       # an ended claim frees
    assert site.manual(KA1, PROBE) is None


def test_claims_are_checked_after_the_rows_and_before_the_plan(site):
    site.ok('claim_course', courseid=KA1, runid='run-a')
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': 987654}],
                      runid='run-b')['errorcode'] == 'unknownuser'
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'status': 7}],
                      runid='run-b')['errorcode'] == 'courseclaimed'
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}],
                      runid='r' * 65)['errorcode'] == 'invalidrunid'
    for seconds in (0, 86401):
        assert site.error('claim_course', courseid=KA1, runid='run-a', seconds=seconds)['errorcode'] == 'invalidclaim'
    assert site.error('claim_course', courseid=KA1, runid='run a')['errorcode'] == 'invalidparameter'


def test_the_task_removes_history_older_than_the_retention_and_ended_claims(site):
    site.ok('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}])
    site.ok('claim_course', courseid=KA2, runid='run-a', seconds=60)
    site.sim.shift_clock(3 * 86400)
    site.ok('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': OTHER}])
    assert site.sim.run_purge_task(retention=0) == {'records': 0, 'leases': 1}       # 0 keeps history for ever
    assert site.sim.run_purge_task(retention=2 * 86400) == {'records': 1, 'leases': 0}
    assert [r['userid'] for r in site.history()] == [OTHER]
    site.sim.delete_course(KA1)
    assert site.sim.run_purge_task(retention=0)['records'] == 1       # a deleted course's history goes
