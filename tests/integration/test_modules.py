# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three modules through real ansible-playbook against the Moodle simulator over HTTP.

The course every test builds holds database, cohort, manual-only and
suspended users; EXPECTED_AFTER_PROCEDURE is, written out by hand, how the
manual procedure (backup, restore as manual enrolments, Participants filtered
by Roles: Student and Status: Active, bulk end date) leaves its manual
enrolments, but for the two deviations: no welcome messages, and a suspended
manual enrolment stays suspended.
"""

import datetime
import hashlib
import json
import os

import pytest

from tests.integration.module_runner import Task, connection_options, run_tasks
from tests.simulator import Simulator

TOKEN = 'integration-token-3f1e9c'
T0 = 1767225600                  # 2026-01-01T00:00:00Z
E1 = 1798675200                  # 2026-12-31T16:00:00Z
E2 = E1 + 86400
END_YEAR = datetime.date.today().year + 1     # always ahead: a past end date is refused (allow_past)
END_DATE = '%d-06-30' % END_YEAR
END_ISO = '%d-06-30T23:59:59+02:00' % END_YEAR     # Europe/Berlin, the simulator's time zone, in summer time
END = int(datetime.datetime.fromisoformat(END_ISO).timestamp())
EDITINGTEACHER, STUDENT = 3, 5

# username -> manual enrolment (status, timestart, timeend, manual roles) after backup + restore + set end
EXPECTED_AFTER_PROCEDURE = {
    'teacher01': ('active', 0, 0, ['editingteacher']),     # database teacher: converted, not a student
    's01': ('active', T0, END, ['student']),               # database
    's02': ('active', 0, END, ['student']),                # database (T0..E1) + cohort (0..0): merged
    's03': ('active', 0, END, ['student']),                # cohort, dropped after the backup: from the backup
    's04': ('suspended', 0, 0, ['student']),               # database, suspended: converted suspended
    's05': ('active', 0, END, ['student']),                # manual only
    's06': ('suspended', 0, 0, ['student']),               # manual only, suspended
    # deviation: manual suspended stays suspended (Moodle's restore would write the database row over it);
    # the database enrolment is active, so the Participants page lists s07 and its manual enrolment gets the end
    's07': ('suspended', T0, END, ['student']),
    # manual (T0..E1) + database (T0+100..E2): the row starts later, so restore_user_enrolment writes the
    # earliest start and the latest end
    's08': ('active', T0, END, ['student']),
}
RESTORED_FROM_SOURCE = ['s01', 's02', 's03', 's04', 's08', 'teacher01']   # created or updated by restore
SKIPPED_DELETED = ['s09', 's10']


@pytest.fixture(scope='module')
def sim():
    simulator = Simulator(version='4.5', fixture='empty', token=TOKEN).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def connection(sim):
    return connection_options(sim.url, TOKEN)


def build_course(sim, shortname):
    """The course described above; returns (courseid, {username: userid})."""
    course = sim.add_course(shortname, fullname='Keep access %s' % shortname, idnumber='ID-' + shortname)
    manual = sim.add_instance(course, 'manual', customint1=1)         # welcome message on, as Moodle's default
    database = sim.add_instance(course, 'database')
    cohort = sim.add_cohort('Cohort %s' % shortname)
    names = ['teacher01'] + ['s%02d' % n for n in range(1, 11)]
    users = dict((name, sim.add_user('%s-%s' % (shortname.lower(), name))) for name in names)
    sim.add_instance(course, 'cohort', customint1=cohort)
    sim.enrol(database, users['teacher01'], EDITINGTEACHER)
    sim.enrol(database, users['s01'], timestart=T0)
    sim.enrol(database, users['s02'], timestart=T0, timeend=E1)
    sim.enrol(database, users['s04'], status=1)
    sim.enrol(manual, users['s05'])
    sim.enrol(manual, users['s06'], status=1)
    sim.enrol(database, users['s07'])
    sim.enrol(manual, users['s07'], status=1, timestart=T0)
    sim.enrol(manual, users['s08'], timestart=T0, timeend=E1)
    sim.enrol(database, users['s08'], timestart=T0 + 100, timeend=E2)
    sim.enrol(database, users['s09'])
    sim.enrol(database, users['s10'])
    sim.add_cohort_members(cohort, [users['s02'], users['s03']])
    return course, users


def short(username):
    return username.split('-', 1)[1]


def manual_view(sim, courseid):
    """{username: (status, timestart, timeend, manual roles)} of the course's manual instance."""
    answer = sim.course_enrolments(courseid)
    manual_ids = set(i['id'] for i in answer['instances'] if i['enrol'] == 'manual')
    roles = {}
    for ra in answer['roleassignments']:
        if ra['component'] == '':
            roles.setdefault(ra['userid'], set()).add(ra['roleshortname'])
    return dict((short(ue['username']), ('active' if ue['status'] == 0 else 'suspended', ue['timestart'],
                                         ue['timeend'], sorted(roles.get(ue['userid'], ()))))
                for ue in answer['userenrolments'] if ue['enrolid'] in manual_ids)


def source_view(sim, courseid):
    """The enrolments and role assignments of every other method (the restore must not touch them)."""
    answer = sim.course_enrolments(courseid)
    return (sorted((ue['userid'], ue['enrol'], ue['status'], ue['timestart'], ue['timeend'])
                   for ue in answer['userenrolments'] if ue['enrol'] != 'manual'),
            sorted((ra['userid'], ra['roleid'], ra['component'], ra['itemid'])
                   for ra in answer['roleassignments'] if ra['component'] != ''))


def course_snapshot(sim, courseid):
    """Everything about the course, without ids that a remove-and-recreate would change."""
    answer = sim.course_enrolments(courseid)
    return (sorted((ue['userid'], ue['enrolid'], ue['status'], ue['timestart'], ue['timeend'])
                   for ue in answer['userenrolments']),
            sorted((ra['userid'], ra['roleid'], ra['component'], ra['itemid']) for ra in answer['roleassignments']),
            [(i['id'], i['enrol'], i['status']) for i in answer['instances']])


def dir_snapshot(path):
    """{relative path: sha256} of every file below ``path``."""
    found = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, 'rb') as handle:
                found[os.path.relpath(full, path)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def names(users):
    return sorted(short(u['username']) for u in users)


def assert_ok(result, changed):
    assert not result.get('failed'), result.get('msg')
    assert result["changed"] is changed, json.dumps(result, indent=1)[:3000]


def test_backup_restore_set_end_leave_the_course_as_the_procedure_would(sim, connection, tmp_path):
    courseid, users = build_course(sim, 'KA1')
    course = {'course': 'KA1', 'backup_dir': str(tmp_path)}
    first = run_tasks([Task('moodle_backup_enrolments', **course),
                       Task('moodle_backup_enrolments', **course)], connection)
    backup = first[0]
    assert_ok(backup, True)
    assert_ok(first[1], False)
    assert first[1]['backup_file'] == backup['backup_file'] and first[1]['backup_written'] is False
    assert backup['counts'] == {'cohort': {'active': 2, 'suspended': 0}, 'database': {'active': 7, 'suspended': 1}}
    assert oct(os.stat(backup['backup_file']).st_mode & 0o777) == '0o600'
    with open(backup['backup_file']) as handle:
        content = handle.read()
    assert TOKEN not in content and '@example.com' not in content

    sim.drop_from_source(courseid, 'cohort', [users['s03']])            # dropped after the backup
    sim.set_user_flags(users['s09'], deleted=1)                         # deleted, still enrolled
    sim.drop_from_source(courseid, 'database', [users['s10']])          # dropped, then deleted
    sim.set_user_flags(users['s10'], deleted=1)
    sources_before = source_view(sim, courseid)

    end = {'end': END_DATE}
    run = run_tasks([Task('moodle_restore_manual', diff=True, **course),
                     Task('moodle_restore_manual', **course),
                     Task('moodle_set_enrol_end', diff=True, course='KA1', **end),
                     Task('moodle_set_enrol_end', course='KA1', **end),
                     Task('moodle_backup_enrolments', **course),
                     Task('moodle_restore_manual', **course)], connection)
    restore, restore_again, set_end, set_end_again, chain_backup, chain_restore = run.results
    assert_ok(restore, True)
    assert names(restore['created']) == ['s01', 's02', 's03', 's04', 'teacher01']
    assert names(restore['updated']) == ['s08']
    assert names(restore['kept_suspended']) == ['s07']
    assert sorted((short(u['username']), u['reason']) for u in restore['skipped_users']) == [
        ('s09', 'deleted'), ('s10', 'deleted')]
    assert restore['roles_assigned'] == 5 and os.path.exists(restore['restore_record'])
    assert restore['user_changes']['after']['ka1-s08'] == {'status': 'active', 'timestart': T0, 'timeend': E2,
                                                           'roles': ['student']}
    assert restore['user_changes']['before']['ka1-s08']['timestart'] == T0
    assert_ok(restore_again, False)
    assert_ok(set_end, True)
    assert set_end['end'] == END and set_end['end_iso'] == END_ISO
    assert set_end['timezone'] == 'Europe/Berlin'
    assert sorted(short(u['username']) for u in set_end['changed_users']) == [
        's01', 's02', 's03', 's05', 's07', 's08']
    assert set_end['user_changes']['after']['ka1-s05'] == {'status': 'active', 'timeend': END, 'roles': ['student']}
    assert_ok(set_end_again, False)
    assert_ok(chain_backup, True)           # s03 and s10 left the source since the first backup
    assert chain_backup['backup_file'] != backup['backup_file']
    assert_ok(chain_restore, False)         # restoring the new backup keeps the end dates set since
    assert chain_restore['backup_file'] == chain_backup['backup_file']

    assert manual_view(sim, courseid) == EXPECTED_AFTER_PROCEDURE
    assert source_view(sim, courseid) == sources_before          # no other enrolment touched, no sync
    assert [m for m in sim.messages() if m['courseid'] == courseid] == []

    sim.drop_from_source(courseid, 'database')
    sim.drop_from_source(courseid, 'cohort')
    assert source_view(sim, courseid) == ([], [])
    assert manual_view(sim, courseid) == EXPECTED_AFTER_PROCEDURE   # everyone kept access and roles

    later = run_tasks([Task('moodle_backup_enrolments', **course),
                       Task('moodle_restore_manual', backup_file=backup['backup_file'], **course),
                       Task('moodle_set_enrol_end', course='KA1', **end)], connection)
    assert_ok(later[0], True)
    assert later[0]['counts'] == {'cohort': {'active': 0, 'suspended': 0}, 'database': {'active': 0, 'suspended': 0}}
    with open(backup['backup_file']) as handle:
        assert handle.read() == content                               # history is never overwritten
    assert_ok(later[1], False)
    assert_ok(later[2], False)


def test_check_mode_changes_nothing(sim, connection, tmp_path):
    courseid, users = build_course(sim, 'KA2')
    course = {'course': 'KA2', 'backup_dir': str(tmp_path)}
    assert_ok(run_tasks([Task('moodle_backup_enrolments', **course)], connection)[0], True)
    sim.drop_from_source(courseid, 'database', [users['s01']])
    moodle_before, files_before = sim.dump_state(), dir_snapshot(str(tmp_path))
    run = run_tasks([Task('moodle_backup_enrolments', check=True, diff=True, retention=1, **course),
                     Task('moodle_restore_manual', check=True, diff=True, **course),
                     Task('moodle_set_enrol_end', check=True, diff=True, course='KA2', end=END_DATE)], connection)
    backup, restore, set_end = run.results
    assert_ok(backup, True)
    assert backup['backup_written'] is True and not os.path.exists(backup['backup_file'])
    assert list(backup['user_changes']['before']) == ['ka2-s01'] and backup['user_changes']['after'] == {}
    assert_ok(restore, True)
    assert names(restore['created']) == ['s01', 's02', 's03', 's04', 's09', 's10', 'teacher01']
    assert restore['restore_record'] is None
    assert_ok(set_end, True)
    assert sorted(short(u['username']) for u in set_end['changed_users']) == ['s05', 's07', 's08']
    assert sim.dump_state() == moodle_before
    assert dir_snapshot(str(tmp_path)) == files_before


def test_bad_inputs_fail_clearly_and_write_nothing(sim, connection, tmp_path):
    courseid, users = build_course(sim, 'KA3')
    other = build_course(sim, 'KA3B')[0]
    nomanual = sim.add_course('KA3N')
    sim.enrol(sim.add_instance(nomanual, 'database'), users['s01'])
    sim.enrol(sim.manual_instance(courseid)['id'], users['s03'], timestart=1900000000)
    backups = str(tmp_path / 'backups')
    setup = run_tasks([Task('moodle_backup_enrolments', course=name, backup_dir=backups)
                       for name in ('KA3', 'KA3B', 'KA3N')]
                      + [Task('moodle_restore_manual', course='KA3', backup_dir=backups, roles=['editingteacher'])],
                      connection)
    own, foreign_course = setup[0]['backup_file'], setup[1]['backup_file']
    assert_ok(setup[3], True)                                     # the roles filter restores only the teacher
    assert names(setup[3]['created']) == ['teacher01']
    assert manual_view(sim, courseid)['teacher01'] == ('active', 0, 0, ['editingteacher'])
    foreign_site = str(tmp_path / 'foreign-site.json')
    with open(own) as handle:
        document = json.load(handle)
    document['site']['url'] = 'https://other.example.edu'
    with open(foreign_site, 'w') as handle:
        json.dump(document, handle)
    damaged = str(tmp_path / 'damaged.json')
    with open(own) as handle, open(damaged, 'w') as out:
        out.write(handle.read()[:200])
    moodle_before, files_before = sim.dump_state(), dir_snapshot(str(tmp_path))

    restore = dict(course='KA3', backup_dir=backups)
    end = dict(course='KA3', end=END_DATE)
    cases = [
        (Task('moodle_restore_manual', backup_file=foreign_course, **restore),
         ["is a backup of course %d (KA3B), not of course %d (KA3)" % (other, courseid)]),
        (Task('moodle_restore_manual', backup_file=foreign_site, **restore),
         ['taken from site https://other.example.edu']),
        (Task('moodle_restore_manual', backup_file=damaged, **restore), ['damaged.json is damaged or not JSON']),
        (Task('moodle_restore_manual', backup_file=str(tmp_path / 'none.json'), **restore),
         ['cannot read backup file', 'none.json']),
        (Task('moodle_restore_manual', roles=['studnet'], **restore), ["roles: role 'studnet' does not exist"]),
        (Task('moodle_restore_manual', query='[?enrol ==', **restore), ["query: '[?enrol ==' is not a valid"]),
        (Task('moodle_restore_manual', query='length(@)', **restore), ['must give a list of rows']),
        (Task('moodle_restore_manual', course='KA3N', backup_dir=backups),
         ["course 'KA3N'", 'has no enabled manual enrolment instance', 'create_manual_instance']),
        (Task('moodle_set_enrol_end', **{**end, 'end': 'next friday'}), ["end: 'next friday' is not a date"]),
        (Task('moodle_set_enrol_end', **{**end, 'end': '2027-06-30T18:00'}), ['has no offset']),
        (Task('moodle_set_enrol_end', **{**end, 'end': '2020-01-01'}), ['in the past', 'allow_past']),
        (Task('moodle_set_enrol_end', **end), ["before the start", "user 'ka3-s03'", 'KA3']),
        (Task('moodle_set_enrol_end', timezone='Mars/Olympus', **end), ["timezone: 'Mars/Olympus'"]),
        (Task('moodle_set_enrol_end', users=['nobody'], **end), ["users: 'nobody' has no manual enrolment"]),
        (Task('moodle_set_enrol_end', roles=['studnet'], **end), ["roles: role 'studnet'"]),
        (Task('moodle_backup_enrolments', methods=['data base'], course='KA3', backup_dir=backups),
         ["methods: 'data base'"]),
        (Task('moodle_backup_enrolments', retention=-1, course='KA3', backup_dir=backups), ['retention must be']),
        (Task('moodle_backup_enrolments', course='NOPE', backup_dir=backups), ["course 'NOPE' not found"]),
    ]
    run = run_tasks([case[0] for case in cases], connection)
    for (task, fragments), result in zip(cases, run.results):
        assert result.get('failed') is True, (task.module, task.options, result)
        for fragment in fragments:
            assert fragment in result['msg'], (fragment, result['msg'])
        assert TOKEN not in json.dumps(result)
    assert sim.dump_state() == moodle_before
    assert dir_snapshot(str(tmp_path)) == files_before


def test_killed_restore_is_finished_by_running_again_and_undone_completely(sim, connection, tmp_path):
    courseid, users = build_course(sim, 'KA4')
    course = {'course': 'KA4', 'backup_dir': str(tmp_path)}
    original = course_snapshot(sim, courseid)
    sim.fault('http500', function='local_keepaccess_apply_manual_enrolments', after=1)
    killed = run_tasks([Task('moodle_backup_enrolments', **course),
                        Task('moodle_restore_manual', batch_size=3, **course)], connection)
    assert killed[1].get('failed') is True and '500' in killed[1]['msg']
    partly = manual_view(sim, courseid)
    assert 0 < len(partly) - 4 < 6            # the first batch of 3 went in, the rest did not

    finish = run_tasks([Task('moodle_restore_manual', batch_size=3, **course),
                        Task('moodle_restore_manual', **course)], connection)
    assert_ok(finish[0], True)
    assert_ok(finish[1], False)
    after_restore = manual_view(sim, courseid)
    expected = dict((name, (status, start, end if name not in ('s01', 's02', 's03', 's05', 's07', 's08') else 0, roles))
                    for name, (status, start, end, roles) in EXPECTED_AFTER_PROCEDURE.items())
    expected.update({'s02': ('active', 0, 0, ['student']), 's08': ('active', T0, E2, ['student']),
                     's09': ('active', 0, 0, ['student']), 's10': ('active', 0, 0, ['student'])})
    assert after_restore == expected

    undo = run_tasks([Task('moodle_restore_manual', state='absent', diff=True, **course),
                      Task('moodle_restore_manual', state='absent', **course)], connection)
    assert_ok(undo[0], True)
    assert names(undo[0]['removed']) == ['s01', 's02', 's03', 's04', 's09', 's10', 'teacher01']
    assert names(undo[0]['reverted']) == ['s08']
    assert undo[0]['roles_unassigned'] == 7
    assert 'ka4-s01' in undo[0]['user_changes']['before'] and 'ka4-s01' not in undo[0]['user_changes']['after']
    undo_lines = dict((line.split()[0], line) for line in undo[0]['diff']['prepared'].splitlines())
    assert set(undo_lines) == set('ka4-' + name for name in names(undo[0]['removed']) + names(undo[0]['reverted']))
    assert ' removed  was active' in undo_lines['ka4-s01'] and undo_lines['ka4-s01'].endswith('[-student]')
    assert not os.path.exists(undo[0]['restore_record'])
    assert_ok(undo[1], False)
    assert course_snapshot(sim, courseid) == original          # exactly as before the restore


def test_create_manual_instance(sim, connection, tmp_path):
    courseid = sim.add_course('KA5')
    student = sim.add_user('ka5-s01')
    sim.enrol(sim.add_instance(courseid, 'database'), student)
    course = {'course': 'KA5', 'backup_dir': str(tmp_path)}
    run = run_tasks([Task('moodle_backup_enrolments', **course),
                     Task('moodle_restore_manual', check=True, create_manual_instance=True, **course),
                     Task('moodle_restore_manual', create_manual_instance=True, **course),
                     Task('moodle_restore_manual', create_manual_instance=True, **course)], connection)
    check, restore, again = run.results[1:]
    assert_ok(check, True)
    assert check['manual_instance_id'] is None and names(check['created']) == ['s01']
    assert_ok(restore, True)
    assert_ok(again, False)
    instance = sim.manual_instance(courseid)
    assert restore['manual_instance_id'] == instance['id'] and instance['customint1'] == 0   # welcome off
    assert again['manual_instance_id'] == instance['id']
    assert manual_view(sim, courseid) == {'s01': ('active', 0, 0, ['student'])}


def test_backups_are_history_and_retention_spares_restored_ones(sim, connection, tmp_path):
    courseid, users = build_course(sim, 'KA6')
    course = {'course': 'KA6', 'backup_dir': str(tmp_path)}
    run = run_tasks([Task('moodle_backup_enrolments', methods=['database'], **course),
                     Task('moodle_restore_manual', backup_file='{{ task0.backup_file }}', send_welcome=True,
                          query="[?username == 'ka6-s01']", **course),
                     Task('moodle_backup_enrolments', **course),
                     Task('moodle_backup_enrolments', methods=['all'], **course),
                     Task('moodle_backup_enrolments', methods=['all'], retention=1, **course)], connection)
    first, restore, second, third, retention = run.results
    for result in (first, restore, second, third):
        assert_ok(result, True)
    assert names(restore['created']) == ['s01']
    assert [m['userid'] for m in sim.messages() if m['courseid'] == courseid] == [users['s01']]   # asked for
    assert len(set(r['backup_file'] for r in (first, second, third))) == 3
    assert_ok(retention, True)
    assert retention['backup_written'] is False and retention['backup_file'] == third['backup_file']
    assert retention['removed_backups'] == [second['backup_file']]      # the first has a restore record
    assert sorted(os.listdir(os.path.dirname(first['backup_file']))) == sorted(
        ['restores', os.path.basename(first['backup_file']), os.path.basename(third['backup_file'])])
