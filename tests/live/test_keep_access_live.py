# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keep_access playbook against a real Moodle holding the live fixture (KA1-KA4).

The story of 1 September, in order: reset the fixture; a --check --diff run
changes nothing; the real run converts KA1-KA3 while KA4 (no manual instance)
fails alone; KA4 with create_manual_instance converts too; a second run
changes nothing; the source drops every user and syncs; every converted user
still has access, with the role they had and the end date. No welcome
message goes out at any point.

Runs only with MOODLE_URL, MOODLE_TOKEN and MOODLE_LIVE_DIR set (see
README.md); the welcome-message and direct-table checks need MOODLE_LIVE_PSQL.
"""

import datetime
import json
import zoneinfo

import pytest

from tests.demo import runner
from tests.live.live_backend import (
    automatic_roles,
    automatic_users,
    manual_by_user,
    manual_instances,
    record,
    roles_by_user,
    snapshot,
)

COURSES = ('KA1', 'KA2', 'KA3', 'KA4')
END = datetime.date(datetime.date.today().year + 1, 6, 30)
NO_MANUAL_INSTANCE = 'no enabled manual enrolment instance'
# what the fixture (tests/live/README.md) makes of each course: users the source feeds,
# and of them the students that get the end date: every student the source feeds, as Moodle's
# step 3 selects by Participants' "Status: Active" (any active enrolment; KA3: student0221's manual
# enrolment is suspended and stays so, and gets the end date since the database keeps them active)
FED_USERS = {'KA1': 32, 'KA2': 25, 'KA3': 18, 'KA4': 10}
KEPT_SUSPENDED = {'KA3': {'student0221'}}


@pytest.fixture(scope='module')
def world(live, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('live_keep_access')
    live.build_fixture()
    before = dict((name, live.enrolments(name)) for name in COURSES)
    inventory = str(tmp / 'inventory')
    runner.write_site(inventory, live.url, 'live', live.token, {
        'keep_access_end': END.isoformat(),
        'keep_access_backup_dir': str(tmp / 'backups'),
        'moodle_validate_certs': live.validate_certs,
    }, extra={'shortname_pattern': '^KA[1-4]$', 'validate_certs': live.validate_certs})
    return {'live': live, 'tmp': tmp, 'inventory': inventory, 'before': before, 'runs': {},
            'welcome_before': live.welcome_messages() if live.has_sql else None,
            'ids_before': last_ids(live) if live.has_sql else None}


def last_ids(live):
    """The newest id of Moodle's standard log, user enrolments and role assignments (what came before a run)."""
    return dict((table, live.sql_value('SELECT COALESCE(MAX(id), 0) FROM {p}%s' % table))
                for table in ('logstore_standard_log', 'user_enrolments', 'role_assignments'))


def run(world, name, *args):
    """Each named playbook run happens once, in the order the tests ask for them."""
    if name not in world['runs']:
        report_dir = str(world['tmp'] / 'reports' / name)
        code, output = runner.run_playbook(world['inventory'], '-e', 'keep_access_report_dir=' + report_dir,
                                           *args, timeout=1800)
        assert world['live'].token not in output, 'the token appeared in the playbook output'
        world['runs'][name] = {'code': code, 'output': output, 'recap': runner.recap(output),
                               'report_dir': report_dir}
        record_run(name, world['runs'][name])
    return world['runs'][name]


def record_run(name, result):
    recap = ', '.join('%s changed=%d failed=%d' % (host, counts.get('changed', 0), counts.get('failed', 0))
                      for host, counts in sorted(result['recap'].items()))
    report = runner.report_files(result['report_dir'])[0]
    totals = runner.load_json(report)['totals'] if report else {}
    record('playbook run %-6s rc=%d  %s  | report: %s' % (name, result['code'], recap, json.dumps(totals)))


def state_of(world):
    return dict((name, world['live'].enrolments(name)) for name in COURSES)


def check_run(world):
    if 'check' not in world['runs']:
        result = run(world, 'check', '--check', '--diff')
        result['after'] = state_of(world)
    return world['runs']['check']


def first_run(world):
    check_run(world)
    if 'first' not in world['runs']:
        result = run(world, 'first')
        result['after'] = state_of(world)
    return world['runs']['first']


def ka4_run(world):
    first_run(world)
    return run(world, 'ka4', '--limit', 'KA4', '-e', json.dumps({'keep_access_create_manual_instance': True}))


def second_run(world):
    ka4_run(world)
    if 'second' not in world['runs']:
        before = state_of(world)
        result = run(world, 'second')
        result['before'], result['after'] = before, state_of(world)
    return world['runs']['second']


def dropped(world):
    second_run(world)
    if 'drop' not in world['runs']:
        summary = world['live'].drop_source(COURSES)
        for name in COURSES:
            record('source drop %s: enrolments before %s, after %s' % (
                name, json.dumps(summary['before'][name]['enrolments']),
                json.dumps(summary['after'][name]['enrolments'])))
        world['runs']['drop'] = {'summary': summary, 'after': state_of(world)}
    return world['runs']['drop']


def end_timestamp(enrolments):
    zone = zoneinfo.ZoneInfo(enrolments['timezone'])
    return int(datetime.datetime.combine(END, datetime.time(23, 59, 59), zone).timestamp())


def by_course(report_dir):
    return dict((c['course'], c) for c in runner.load_report(report_dir)['courses'])


def test_fixture_holds_what_the_readme_says(world):
    before = world['before']
    assert dict((name, len(automatic_users(before[name]))) for name in COURSES) == FED_USERS
    assert manual_instances(before['KA4']) == []
    ka3_manual = manual_by_user(before['KA3'])
    assert sorted(ue['status'] for ue in ka3_manual.values()) == [0] * 5 + [1] * 3


def test_check_run_changes_nothing_and_shows_who_would_be_converted(world):
    result = check_run(world)
    for name in COURSES:
        assert snapshot(result['after'][name]) == snapshot(world['before'][name]), '--check changed ' + name
    assert set(result['recap']) == set(COURSES)
    assert 'student0001' in result['output'], 'the diff names the users who would be converted'
    courses = by_course(result['report_dir'])
    assert courses['KA1']['converted'] == 32 and courses['KA1']['backup_file'] is None


def test_ka4_without_manual_instance_fails_alone_with_a_clear_message(world):
    result = first_run(world)
    recap = result['recap']
    assert result['code'] != 0
    assert recap['KA4']['failed'] == 1
    assert all(recap[name]['failed'] == 0 and recap[name]['changed'] > 0 for name in ('KA1', 'KA2', 'KA3'))
    assert 'KA4' in result['output'] and NO_MANUAL_INSTANCE in result['output']
    assert snapshot(result['after']['KA4']) == snapshot(world['before']['KA4']), 'the failed course was changed'


def test_report_counts_the_conversion(world):
    courses = by_course(first_run(world)['report_dir'])
    assert courses['KA1']['converted'] == 32 and courses['KA1']['end_dates_set'] == 30
    assert courses['KA2']['converted'] == 25 and courses['KA2']['end_dates_set'] == 25
    # KA3: 16 created; student0222's active manual enrolment already matches, student0221's suspended
    # one stays suspended; the end date goes on every student Participants' "Status: Active" selects:
    # the active manual ones, manual-only ones included, and student0221 (active through the database)
    assert courses['KA3']['converted'] == 16 and courses['KA3']['end_dates_set'] == 22
    assert courses['KA3']['status'] == 'changed' and courses['KA4']['status'] == 'failed'
    assert NO_MANUAL_INSTANCE in courses['KA4']['message']


@pytest.mark.parametrize('name', ('KA1', 'KA2', 'KA3'))
def test_converted_users_hold_a_manual_enrolment_with_their_role_and_the_end_date(world, name):
    after = first_run(world)['after'][name]
    assert_converted(world['before'][name], after, name)


def test_create_manual_instance_converts_ka4_with_the_welcome_message_off(world):
    result = ka4_run(world)
    assert result['code'] == 0, result['output'][-3000:]
    assert result['recap']['KA4']['changed'] > 0
    after = world['live'].enrolments('KA4')
    instances = manual_instances(after)
    assert len(instances) == 1 and instances[0]['status'] == 0 and instances[0]['sendwelcome'] == 0
    assert_converted(world['before']['KA4'], after, 'KA4')
    assert by_course(result['report_dir'])['KA4']['converted'] == 10


def test_second_run_changes_nothing(world):
    result = second_run(world)
    assert result['code'] == 0, result['output'][-3000:]
    assert all(result['recap'][name]['changed'] == 0 and result['recap'][name]['failed'] == 0 for name in COURSES)
    for name in COURSES:
        assert snapshot(result['after'][name]) == snapshot(result['before'][name]), 'second run changed ' + name
    assert runner.load_report(result['report_dir'])['totals']['changed'] == 0


def test_source_drop_leaves_only_manual_enrolments(world):
    drop = dropped(world)
    for name in COURSES:
        assert automatic_users(drop['after'][name]) == {}, name
        enrolments = drop['summary']['after'][name]['enrolments']
        assert set(enrolments) == {'manual'}, (name, enrolments)
    assert drop['summary']['source_rows_deleted'] == 32 + 13 + 10


@pytest.mark.parametrize('name', COURSES)
def test_every_converted_user_keeps_access_after_the_source_drop(world, name):
    after = dropped(world)['after'][name]
    assert_converted(world['before'][name], after, name)
    active = sum(1 for ue in manual_by_user(after).values() if ue['status'] == 0)
    record('after the drop %s: all %d users the source fed still enrolled (manual), %d active manual enrolments, '
           '%d kept suspended as before' % (name, FED_USERS[name], active, len(KEPT_SUSPENDED.get(name, ()))))


def test_end_dates_in_the_database_match(world, live_sql):
    after = dropped(world)['after']
    for name in COURSES:
        end = end_timestamp(after[name])
        expected = sum(1 for ue in manual_by_user(after[name]).values() if ue['timeend'] == end)
        in_table = live_sql.sql_value(
            "SELECT COUNT(*) FROM {p}user_enrolments ue JOIN {p}enrol e ON e.id = ue.enrolid "
            "JOIN {p}course c ON c.id = e.courseid WHERE c.shortname = '%s' AND e.enrol = 'manual' "
            "AND ue.timeend = %%d" % name, end)
        assert in_table == expected and expected > 0, name


def test_no_welcome_message_was_sent(world, live_sql):
    dropped(world)
    after = live_sql.welcome_messages()
    record('welcome messages stored (mdl_notifications, %s): %d before, %d after'
           % ('enrolcoursewelcomemessage', world['welcome_before'], after))
    assert after == world['welcome_before']


def test_each_new_manual_enrolment_and_role_copy_is_in_moodles_log(world, live_sql):
    """The conversion's writes fire Moodle's events as enrol_user() and role_assign() do: one
    user_enrolment_created per new manual enrolment (its id the event's object) and one role_assigned per new
    manual role copy, in Moodle's standard log."""
    second_run(world)
    since = world['ids_before']
    for name in COURSES:
        courseid = live_sql.sql_value("SELECT id FROM {p}course WHERE shortname = '%s'" % name)
        enrolments = set(row[0] for row in live_sql.sql(
            "SELECT ue.id FROM {p}user_enrolments ue JOIN {p}enrol e ON e.id = ue.enrolid "
            "WHERE e.courseid = %d AND e.enrol = 'manual' AND ue.id > %d", courseid, since['user_enrolments']))
        enrolled_events = set(row[0] for row in live_sql.sql(
            "SELECT objectid FROM {p}logstore_standard_log WHERE id > %d AND courseid = %d "
            "AND eventname LIKE '%%user_enrolment_created'", since['logstore_standard_log'], courseid))
        copies = set(tuple(row) for row in live_sql.sql(
            "SELECT ra.userid, ra.roleid FROM {p}role_assignments ra JOIN {p}context x ON x.id = ra.contextid "
            "WHERE x.contextlevel = 50 AND x.instanceid = %d AND ra.component = '' AND ra.id > %d",
            courseid, since['role_assignments']))
        assigned_events = set(tuple(row) for row in live_sql.sql(
            "SELECT relateduserid, objectid FROM {p}logstore_standard_log WHERE id > %d AND courseid = %d "
            "AND contextlevel = 50 AND eventname LIKE '%%role_assigned'", since['logstore_standard_log'], courseid))
        assert enrolments and enrolled_events == enrolments, name
        assert copies and assigned_events == copies, name
        record('events %s: %d user_enrolment_created for %d new manual enrolments, %d role_assigned for %d role '
               'copies' % (name, len(enrolled_events), len(enrolments), len(assigned_events), len(copies)))


def assert_converted(before, after, name):
    """Every user the source fed holds the course's manual enrolment, active (unless it was suspended
    by hand before), with a manual copy of each role they held, students with the end date."""
    end = end_timestamp(after)
    manual = manual_by_user(after)
    manual_roles = roles_by_user(after, component='')
    kept_suspended = KEPT_SUSPENDED.get(name, set())
    fed = automatic_users(before)
    roles_before = automatic_roles(before)
    assert len(fed) == FED_USERS[name]
    problems = []
    for userid, username in sorted(fed.items()):
        enrolment = manual.get(userid)
        if enrolment is None:
            problems.append('%s: no manual enrolment' % username)
            continue
        expected_status = 1 if username in kept_suspended else 0
        if enrolment['status'] != expected_status:
            problems.append('%s: status %s' % (username, enrolment['status']))
        if not roles_before.get(userid, set()) <= manual_roles.get(userid, set()):
            problems.append('%s: manual roles %s, had %s' % (username, manual_roles.get(userid), roles_before[userid]))
        # the source feeds every one of them actively: step 3 selects every student, suspended manual ones too
        expected_end = end if 'student' in roles_before.get(userid, ()) else 0
        if enrolment['timeend'] != expected_end:
            problems.append('%s: timeend %s, expected %s' % (username, enrolment['timeend'], expected_end))
    assert problems == [], '%s: %s' % (name, '; '.join(problems))
