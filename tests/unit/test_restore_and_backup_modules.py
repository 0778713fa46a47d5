# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""moodle_restore_manual and moodle_backup_enrolments run in-process against the simulator over HTTP.

Options that contradict each other are refused before Moodle is asked anything,
and a restore in check mode returns the manual enrolments the real run then leaves.
"""

import json
import time

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleError
from ansible_collections.cemu.moodle.plugins.module_utils.plan import CourseState, backup_from_state, plan_restore
from ansible_collections.cemu.moodle.plugins.modules import (
    moodle_backup_enrolments, moodle_restore_manual, moodle_set_enrol_end)
from tests.integration.evidence import write_calls
from tests.simulator import Simulator
from tests.unit.module_args import as_target, patch_module_args
from tests.unit.test_plan_fixtures import DATABASE, SITE, answer, ra, ue

TOKEN = 'modules-unit-token-8c1d'
T0 = 1767225600                  # 2026-01-01T00:00:00Z
E1 = 1798675200                  # 2026-12-31T16:00:00Z
EDITINGTEACHER, STUDENT = 3, 5


@pytest.fixture(scope='module')
def sim():
    simulator = Simulator(version='4.5', fixture='empty', token=TOKEN).start()
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def no_moodle_environment(monkeypatch):
    for name in ('MOODLE_URL', 'MOODLE_TOKEN', 'MOODLE_VALIDATE_CERTS', 'MOODLE_CA_PATH'):
        monkeypatch.delenv(name, raising=False)


def run(module, sim, capsys, check=False, **options):
    """Run ``module.main()`` as Ansible would; return its result."""
    args = dict({'moodle_url': sim.url, 'moodle_token': TOKEN, '_ansible_check_mode': check}, **options)
    with patch_module_args(args), as_target():
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def build_course(sim, shortname):
    """A course whose restore creates, updates, keeps suspended, leaves unchanged and skips users."""
    course = sim.add_course(shortname)
    manual = sim.add_instance(course, 'manual')
    database = sim.add_instance(course, 'database')
    users = dict((name, sim.add_user('%s-%s' % (shortname.lower(), name)))
                 for name in ('new', 'teacher', 'pending', 'merge', 'suspended', 'same', 'deleted', 'manualonly'))
    sim.enrol(database, users['new'], timestart=T0, timeend=E1)
    sim.enrol(database, users['teacher'], EDITINGTEACHER)
    sim.enrol(database, users['pending'], status=1, timestart=T0)
    sim.enrol(manual, users['merge'], timestart=T0 + 100, timeend=E1)
    sim.enrol(database, users['merge'], timestart=T0)
    sim.enrol(manual, users['suspended'], status=1)
    sim.enrol(database, users['suspended'])
    sim.enrol(manual, users['same'])
    sim.enrol(database, users['same'])
    sim.enrol(database, users['deleted'])
    sim.set_user_flags(users['deleted'], deleted=True)
    sim.enrol(manual, users['manualonly'])
    return course


def manual_enrolments_now(sim, courseid):
    """{username: {status, timestart, timeend, roles}}: the manual enrolments and every course role."""
    answer = sim.course_enrolments(courseid)
    manual = set(i['id'] for i in answer['instances'] if i['enrol'] == 'manual')
    roles = {}
    for ra in answer['roleassignments']:
        roles.setdefault(ra['userid'], set()).add(ra['roleshortname'])
    return dict((ue['username'], {'status': 'suspended' if ue['status'] else 'active', 'timestart': ue['timestart'],
                                  'timeend': ue['timeend'], 'roles': sorted(roles.get(ue['userid'], ()))})
                for ue in answer['userenrolments'] if ue['enrolid'] in manual)


# --- planned_enrolments ---------------------------------------------------------------------

def test_check_mode_returns_the_manual_enrolments_the_real_restore_leaves(sim, capsys, tmp_path):
    course = build_course(sim, 'PLAN1')
    options = {'course': 'PLAN1', 'backup_dir': str(tmp_path)}
    assert not run(moodle_backup_enrolments, sim, capsys, **options).get('failed')
    writes_before = len(write_calls(sim))

    checked = run(moodle_restore_manual, sim, capsys, check=True, **options)
    assert not checked.get('failed'), checked.get('msg')
    assert len(write_calls(sim)) == writes_before, 'check mode wrote to Moodle'
    restored = run(moodle_restore_manual, sim, capsys, **options)
    assert not restored.get('failed'), restored.get('msg')

    planned = checked['planned_enrolments']
    assert [p['username'].split('-')[1] for p in planned] == [
        'new', 'teacher', 'pending', 'merge', 'suspended', 'same']          # by user id; skipped 'deleted' left out
    assert [p['userid'] for p in planned] == sorted(p['userid'] for p in planned)
    after = manual_enrolments_now(sim, course)
    assert dict((p['username'], dict((k, p[k]) for k in ('status', 'timestart', 'timeend', 'roles')))
                for p in planned) == dict((name, view) for name, view in after.items() if 'manualonly' not in name)
    assert 'planned_enrolments' not in restored


def test_planned_enrolments_show_merges_suspensions_and_roles(sim, capsys, tmp_path):
    build_course(sim, 'PLAN2')
    options = {'course': 'PLAN2', 'backup_dir': str(tmp_path)}
    run(moodle_backup_enrolments, sim, capsys, **options)
    planned = dict((p['username'].split('-')[1], p) for p in
                   run(moodle_restore_manual, sim, capsys, check=True, **options)['planned_enrolments'])
    assert (planned['new']['status'], planned['new']['timestart'], planned['new']['timeend']) == ('active', T0, E1)
    assert planned['teacher']['roles'] == ['editingteacher']
    assert planned['pending']['status'] == 'suspended'                      # only a suspended source row
    assert (planned['merge']['timestart'], planned['merge']['timeend']) == (T0, 0)   # earliest start, no end wins
    assert planned['suspended']['status'] == 'suspended'                    # kept suspended
    assert planned['same']['roles'] == ['student']


def test_planned_enrolments_when_the_manual_instance_would_be_created(sim, capsys, tmp_path):
    course = sim.add_course('PLAN3')
    database = sim.add_instance(course, 'database')
    student = sim.add_user('plan3-student')
    sim.enrol(database, student, timestart=T0)
    options = {'course': 'PLAN3', 'backup_dir': str(tmp_path)}
    run(moodle_backup_enrolments, sim, capsys, **options)
    checked = run(moodle_restore_manual, sim, capsys, check=True, create_manual_instance=True, **options)
    assert checked['manual_instance_id'] is None
    assert checked['planned_enrolments'] == [{'userid': student, 'username': 'plan3-student', 'status': 'active',
                                              'timestart': T0, 'timeend': 0, 'roles': ['student']}]


# --- state=absent refuses the options that shape a restore ----------------------------------

@pytest.mark.parametrize('option, value', [
    ('send_welcome', True), ('create_manual_instance', True), ('query', "[?enrol == 'cohort']"), ('roles', ['student']),
])
def test_undo_refuses_restore_options_before_asking_moodle(sim, capsys, tmp_path, option, value):
    calls = len(sim.calls())
    result = run(moodle_restore_manual, sim, capsys, course='PLAN1', backup_dir=str(tmp_path), state='absent',
                 **{option: value})
    assert result.get('failed')
    assert 'state=absent' in result['msg'] and option in result['msg']
    assert len(sim.calls()) == calls


def test_undo_names_every_refused_option_and_accepts_their_defaults(sim, capsys, tmp_path):
    sim.add_instance(sim.add_course('UNDO1'), 'manual')
    result = run(moodle_restore_manual, sim, capsys, course='UNDO1', backup_dir=str(tmp_path), state='absent',
                 send_welcome=True, query='[*]')
    assert "takes no query, send_welcome; remove them" in result['msg']
    result = run(moodle_restore_manual, sim, capsys, course='UNDO1', backup_dir=str(tmp_path), state='absent',
                 send_welcome=False, create_manual_instance=False, roles=[])
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is False                                       # no restore record here: nothing to undo


# --- backup methods --------------------------------------------------------------------------

def test_backup_of_no_method_is_refused_before_asking_moodle(sim, capsys, tmp_path):
    calls = len(sim.calls())
    result = run(moodle_backup_enrolments, sim, capsys, course='PLAN1', backup_dir=str(tmp_path), methods=[])
    assert result.get('failed')
    assert result['msg'].startswith("course 'PLAN1': methods is empty")
    assert len(sim.calls()) == calls
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize('typo, meant', [('databse', 'database'), ('cohrt', 'cohort'), ('Manual', 'manual')])
def test_a_typo_of_a_standard_method_is_refused_naming_the_standard_ones(sim, capsys, tmp_path, typo, meant):
    calls = len(sim.calls())
    result = run(moodle_backup_enrolments, sim, capsys, course='PLAN1', backup_dir=str(tmp_path),
                 methods=['cohort', typo])
    assert result.get('failed')
    assert "'%s' is not an enrolment method; did you mean '%s'?" % (typo, meant) in result['msg']
    assert 'manual, self, guest, cohort, database, meta' in result['msg']
    assert len(sim.calls()) == calls


def test_an_add_on_enrolment_method_is_backed_up(sim, capsys, tmp_path):
    course = sim.add_course('ADDON1')
    instance = sim.add_instance(course, 'autoenrol')
    user = sim.add_user('addon1-student')
    sim.enrol(instance, user)
    result = run(moodle_backup_enrolments, sim, capsys, course='ADDON1', backup_dir=str(tmp_path),
                 methods=['autoenrol', 'database'])
    assert not result.get('failed'), result.get('msg')
    assert result['counts']['autoenrol'] == {'active': 1, 'suspended': 0}
    # a course without one of the methods is normal: in the result, not a warning
    assert result['missing_methods'] == ['database'] and not result.get('warnings')


# --- what a person reads with --diff ------------------------------------------------------------

def test_the_restore_diff_is_one_readable_line_per_changed_user_in_the_sites_time_zone(sim, capsys, tmp_path):
    build_course(sim, 'DIFF1')
    options = {'course': 'DIFF1', 'backup_dir': str(tmp_path), '_ansible_diff': True}
    backup = run(moodle_backup_enrolments, sim, capsys, **options)
    assert backup['diff']['prepared'] == "backup of course 'DIFF1' (id %d): 7 database enrolments -> %s" % (
        backup['course']['id'], backup['backup_file'])
    checked = run(moodle_restore_manual, sim, capsys, check=True, **options)
    lines = checked['diff']['prepared'].splitlines()
    # the simulated site is in Europe/Berlin: T0 and E1 are midnight UTC, 01:00 CET; users already holding
    # what the restore would give (diff1-same, diff1-suspended) get no line
    assert lines == [
        'diff1-new      new  active  start: 2026-01-01 01:00 CET  end: 2026-12-31 01:00 CET  [+student]',
        'diff1-teacher  new  active  end: none  [+editingteacher]',
        'diff1-pending  new  suspended  start: 2026-01-01 01:00 CET  end: none  [+student]',
        'diff1-merge    active  start: 2026-01-01 01:01 CET -> 2026-01-01 01:00 CET  '
        'end: 2026-12-31 01:00 CET -> none  [student]',
    ]
    assert set(checked['user_changes']['after']) == set(line.split()[0] for line in lines)
    assert checked['user_changes']['after']['diff1-merge']['timeend'] == 0     # the data, for tools
    assert 'diff' not in run(moodle_restore_manual, sim, capsys, check=True, course='DIFF1', backup_dir=str(tmp_path))


def test_a_least_privilege_token_still_backs_up_the_course_idnumber(sim, capsys, tmp_path):
    """Moodle leaves idnumber out of course answers for a token without moodle/course:update."""
    course = sim.add_course('IDN101', idnumber='IDN-2026-1')
    database = sim.add_instance(course, 'database')
    sim.enrol(database, sim.add_user('idn101-student'))
    service_token = 'least-privilege-token-77ab'
    sim.add_service_token(service_token)

    result = run(moodle_backup_enrolments, sim, capsys, moodle_token=service_token, course='IDN101',
                 backup_dir=str(tmp_path))

    assert result['course']['idnumber'] == 'IDN-2026-1'
    with open(result['backup_file']) as handle:
        assert json.load(handle)['course']['idnumber'] == 'IDN-2026-1'


def test_the_rest_endpoint_as_moodle_url_keeps_the_same_backups(sim, capsys, tmp_path):
    """moodle_url may name the site root or its REST endpoint: backups land in one place either way."""
    course = sim.add_course('URL101')
    sim.add_instance(course, 'manual')
    database = sim.add_instance(course, 'database')
    sim.enrol(database, sim.add_user('url101-student'))
    backups = str(tmp_path)

    first = run(moodle_backup_enrolments, sim, capsys, course='URL101', backup_dir=backups)
    again = run(moodle_backup_enrolments, sim, capsys, course='URL101', backup_dir=backups,
                moodle_url=sim.url + '/webservice/rest/server.php/')
    restored = run(moodle_restore_manual, sim, capsys, course='URL101', backup_dir=backups,
                   moodle_url=sim.url + '/webservice/rest/server.php')

    assert again['changed'] is False and again['backup_file'] == first['backup_file']
    assert not restored.get('failed'), restored.get('msg')
    assert restored['backup_file'] == first['backup_file']


# --- roles the token's user may not assign -------------------------------------------------------

def manager_course(sim, shortname):
    """Database enrolments: two students and a manager (role id 1), as seen on a real Moodle 4.5."""
    course = sim.add_course(shortname)
    sim.add_instance(course, 'manual')
    database = sim.add_instance(course, 'database')
    users = dict((name, sim.add_user('%s-%s' % (shortname.lower(), name))) for name in ('s1', 's2', 'boss'))
    sim.enrol(database, users['s1'])
    sim.enrol(database, users['s2'])
    sim.enrol(database, users['boss'], 1)
    return course, users


def test_a_role_the_service_user_may_not_assign_is_skipped_and_the_course_converted(sim, capsys, tmp_path):
    course, users = manager_course(sim, 'MGR1')
    service_token = 'least-privilege-token-mgr1'
    sim.add_service_token(service_token)
    options = {'course': 'MGR1', 'backup_dir': str(tmp_path), 'moodle_token': service_token}
    run(moodle_backup_enrolments, sim, capsys, **options)

    checked = run(moodle_restore_manual, sim, capsys, check=True, **options)
    restored = run(moodle_restore_manual, sim, capsys, **options)
    again = run(moodle_restore_manual, sim, capsys, **options)

    assert not restored.get('failed'), restored.get('msg')
    assert sorted(u['username'] for u in restored['created']) == ['mgr1-boss', 'mgr1-s1', 'mgr1-s2']
    skipped = [{'userid': users['boss'], 'username': 'mgr1-boss', 'reason': 'role_not_assignable', 'role': 'manager'}]
    assert restored['skipped_users'] == checked['skipped_users'] == skipped
    assert restored['counts']['roles_skipped'] == 1 and restored['counts']['skipped'] == 0
    assert manual_enrolments_now(sim, course)['mgr1-boss']['roles'] == ['manager'], 'only its database role'
    assert manual_enrolments_now(sim, course)['mgr1-s1']['roles'] == ['student']
    assert (again['changed'], again['skipped_users']) == (False, skipped)


class FakeApi:
    """apply_manual answering like a companion plugin older than 2026120100 (cannotassignrole for the call)."""

    def __init__(self, refused):
        self.refused, self.calls = refused, []

    def apply_manual(self, courseid, rows, send_welcome, run=None):
        self.calls.append([dict(row) for row in rows])
        if any(self.refused in row.get('roleids', ()) for row in rows):
            raise MoodleError('Role id %d cannot be assigned in course %d: ...' % (self.refused, courseid),
                              function='local_keepaccess_apply_manual_enrolments', errorcode='cannotassignrole')
        return [{'userid': row['userid'], 'ueid': 1, 'result': 'created', 'rolesassigned': row.get('roleids', [])}
                for row in rows]


class FakeModule:
    def __init__(self, api):
        self.api, self.course, self.params = api, {'id': 2}, {'send_welcome': False}


def test_an_older_plugin_refusing_a_role_for_the_whole_call_gets_it_again_without_that_role():
    course = answer([ue(1, DATABASE), ue(2, DATABASE)], [ra(1, STUDENT, DATABASE), ra(2, 1, DATABASE)])
    state = CourseState.from_api(course)
    backup = backup_from_state(state, ['database'], SITE, '2026-08-20T10:00:00Z')
    api = FakeApi(refused=1)

    applied = moodle_restore_manual.apply_plan(
        FakeModule(api), plan_restore(backup, state),
        lambda deleted, refused: plan_restore(backup, state, deleted=deleted, refused_roles=refused))

    assert [[row.get('roleids') for row in call] for call in api.calls] == [[[STUDENT], [1]], [[STUDENT], None]]
    assert applied.roles_skipped == [{'userid': 2, 'username': 'user2', 'reason': 'role_not_assignable',
                                      'role': 'manager'}]
    assert [u['userid'] for u in applied.created] == [1, 2]


# --- moodle_set_enrol_end selects like the Participants page ---------------------------------------

def test_end_dates_go_to_active_participants_with_the_role_from_the_course_or_its_category(sim, capsys):
    course = sim.add_course('SEL1')
    manual, database = sim.add_instance(course, 'manual'), sim.add_instance(course, 'database')
    names = ('current', 'former', 'catstudent', 'viadatabase', 'teacher')
    users = dict((name, sim.add_user('sel1-' + name)) for name in names)
    month_ago = int(time.time()) - 30 * 86400
    sim.enrol(manual, users['current'], STUDENT)
    sim.enrol(manual, users['former'], STUDENT, timeend=month_ago)            # ended, in no source
    sim.enrol(manual, users['catstudent'])                                   # student only in the category
    sim.assign_category_role(sim.state.course(course)['category'], users['catstudent'], STUDENT)
    sim.enrol(manual, users['viadatabase'], STUDENT, timeend=month_ago)       # ended manual, active database
    sim.enrol(database, users['viadatabase'], STUDENT)
    sim.enrol(manual, users['teacher'], EDITINGTEACHER)

    result = run(moodle_set_enrol_end, sim, capsys, course='SEL1', end=str(E1 + 86400 * 365))

    assert not result.get('failed'), result.get('msg')
    assert sorted(u['username'] for u in result['changed_users']) == [
        'sel1-catstudent', 'sel1-current', 'sel1-viadatabase']
    suspended = run(moodle_set_enrol_end, sim, capsys, check=True, course='SEL1', end=str(E1 + 86400 * 365),
                    status='suspended')
    # "Suspended": at least one enrolment that is not active: only the former student now (the first run
    # gave sel1-viadatabase's manual enrolment a future end, so it is active again).
    assert suspended['counts'] == {'selected': 1, 'changed': 1, 'unchanged': 0}
    assert [u['username'] for u in suspended['changed_users']] == ['sel1-former']


def test_the_end_date_diff_is_one_line_per_user_in_the_sites_zone_whatever_the_timezone_option(sim, capsys):
    course = sim.add_course('DIFF2')
    manual = sim.add_instance(course, 'manual')
    sim.enrol(manual, sim.add_user('diff2-student'), STUDENT)
    sim.enrol(manual, sim.add_user('diff2-later'), STUDENT, timeend=E1 + 86400 * 400)
    result = run(moodle_set_enrol_end, sim, capsys, check=True, course='DIFF2', end='2027-06-30',
                 timezone='America/New_York', _ansible_diff=True)
    # 2027-06-30 23:59:59 in New York is 2027-07-01 05:59 in Berlin (the site's zone, CEST in summer)
    assert result['diff']['prepared'].splitlines() == [
        'diff2-student  active  end: none -> 2027-07-01 05:59 CEST  [student]',
        'diff2-later    active  end: 2028-02-04 01:00 CET -> 2027-07-01 05:59 CEST  [student]']
    assert result['user_changes']['after']['diff2-student'] == {'status': 'active', 'timeend': result['end'],
                                                                'roles': ['student']}


# --- end_date: the end-date step checked before the restore's first write ----------------------

def enrolment_writes(sim):
    """Writes of enrolments (a course claim and its release are not)."""
    return [call for call in write_calls(sim) if call['function'] not in (
        'local_keepaccess_claim_course', 'local_keepaccess_release_course')]


def test_an_end_date_before_a_start_stops_the_restore_before_its_first_write(sim, capsys, tmp_path):
    """Real Moodle 4.5 (issue 10): with the end before a manual-only student's start, the role's restore
    converted the course and only then the end-date step refused the date. Now the restore refuses first."""
    course = build_course(sim, 'EARLY1')
    later = sim.add_user('early1-later')
    sim.enrol(sim.manual_instance(course)['id'], later, STUDENT, timestart=T0 + 300 * 86400)
    options = {'course': 'EARLY1', 'backup_dir': str(tmp_path)}
    assert not run(moodle_backup_enrolments, sim, capsys, **options).get('failed')
    before, writes_before = manual_enrolments_now(sim, course), len(enrolment_writes(sim))
    refused = run(moodle_restore_manual, sim, capsys, end_date={'end': '2026-06-30', 'allow_past': True},
                  **options)
    assert refused.get('failed') and "before the start" in refused['msg'] and 'early1-later' in refused['msg']
    assert 'nothing was restored' in refused['msg']
    assert len(enrolment_writes(sim)) == writes_before and manual_enrolments_now(sim, course) == before
    restored = run(moodle_restore_manual, sim, capsys, end_date={'end': '2027-06-30'}, **options)
    assert not restored.get('failed') and restored['changed'], restored.get('msg')


def test_an_end_date_before_the_start_of_an_enrolment_the_restore_creates_stops_it(sim, capsys, tmp_path):
    course = build_course(sim, 'EARLY2')           # 'new' comes from the database starting at T0 (2026-01-01)
    options = {'course': 'EARLY2', 'backup_dir': str(tmp_path)}
    assert not run(moodle_backup_enrolments, sim, capsys, **options).get('failed')
    before, writes_before = manual_enrolments_now(sim, course), len(enrolment_writes(sim))
    for check in (True, False):
        refused = run(moodle_restore_manual, sim, capsys, check=check,
                      end_date={'end': '2025-12-31', 'allow_past': True}, **options)
        assert refused.get('failed') and 'early2-new' in refused['msg'], refused.get('msg')
    assert len(enrolment_writes(sim)) == writes_before and manual_enrolments_now(sim, course) == before
