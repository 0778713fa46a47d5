# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Undo a whole run from a fresh controller, on a real Moodle: ``-e keep_access_state=absent``.

In order: reset the fixture (which also forgets the plugin's history of its courses); convert KA1-KA3
with an end date from one controller; a teacher gives one converted KA1 student a later end date
through Moodle's own enrol_manual_enrol_users; from a fresh controller (empty backup and report
folders) a --check --diff undo changes nothing; the undo puts every user's manual enrolment
(present, status, start, end) and manual roles back as before the conversion, except the teacher's
change, which is left alone and reported; a second undo changes nothing; a conversion after the
undo converts again.

Runs only with MOODLE_URL, MOODLE_TOKEN and MOODLE_LIVE_DIR set, and the companion plugin
2026120130 or later (the undo is one write per user) in the token's service.
"""

import datetime
import json

import pytest

from tests.demo import runner
from tests.live.live_backend import record, snapshot

COURSES = ('KA1', 'KA2', 'KA3')
END = datetime.date(datetime.date.today().year + 1, 6, 30)
LATER = 4102444799           # 2099-12-31 23:59:59 UTC: the teacher's end date for one student
TEACHER_CHANGED = 'student0001'


@pytest.fixture(scope='module')
def world(live, tmp_path_factory):
    settings = live.api.site_settings()
    if settings['pluginversion'] < 2026120130:
        pytest.skip('local_keepaccess %s on the site: the undo test needs 2026120130 or later'
                    % settings['pluginversion'])
    tmp = tmp_path_factory.mktemp('live_keep_access_undo')
    live.build_fixture()
    inventory = str(tmp / 'inventory')
    # no keep_access_end in the site's variables: the conversion gets it with -e, the undo needs none
    runner.write_site(inventory, live.url, 'live', live.token, {'moodle_validate_certs': live.validate_certs},
                      extra={'shortname_pattern': '^KA[1-3]$', 'validate_certs': live.validate_certs})
    return {'live': live, 'tmp': tmp, 'inventory': inventory, 'runs': {},
            'before': dict((c, manual_snapshot(live.enrolments(c))) for c in COURSES),
            'whole_before': dict((c, snapshot(live.enrolments(c))) for c in COURSES)}


def manual_snapshot(answer):
    """{username: (manual enrolment (status, timestart, timeend) or None, sorted manual role shortnames)}."""
    manual_ids = set(i['id'] for i in answer['instances'] if i['enrol'] == 'manual')
    users = dict((ue['userid'], ue['username']) for ue in answer['userenrolments'])
    state = dict((name, [None, []]) for name in users.values())
    for ue in answer['userenrolments']:
        if ue['enrolid'] in manual_ids:
            state[ue['username']][0] = (ue['status'], ue['timestart'], ue['timeend'])
    for ra in answer['roleassignments']:
        if ra['component'] == '' and int(ra['itemid']) == 0 and ra['userid'] in users:
            state[users[ra['userid']]][1].append(ra['roleshortname'])
    return dict((name, (enrolment, sorted(roles))) for name, (enrolment, roles) in state.items())


def manual_state(world):
    return dict((c, manual_snapshot(world['live'].enrolments(c))) for c in COURSES)


def run(world, name, controller, *args):
    """Each named run happens once, in order; each ``controller`` has its own (at first empty) folders."""
    if name not in world['runs']:
        report_dir = str(world['tmp'] / controller / 'reports')
        code, output = runner.run_playbook(world['inventory'], '-e', 'keep_access_report_dir=' + report_dir,
                                           '-e', 'keep_access_backup_dir=' + str(world['tmp'] / controller / 'backups'),
                                           *args, timeout=1800)
        assert world['live'].token not in output, 'the token appeared in the playbook output'
        report = runner.load_report(report_dir) if runner.report_files(report_dir)[0] else None
        world['runs'][name] = {'code': code, 'output': output, 'recap': runner.recap(output), 'report': report}
        record('playbook run %-14s rc=%d  %s  | totals: %s' % (
            name, code, ', '.join('%s changed=%d' % (h, c.get('changed', 0)) for h, c in sorted(runner.recap(output).items())),
            report and report['totals']))
    return world['runs'][name]


def converted(world):
    result = run(world, 'convert', 'cron-host', '-e', 'keep_access_end=' + END.isoformat())
    assert result['code'] == 0, result['output'][-3000:]
    if 'changed_by_hand' not in world:
        teacher_changes_an_end_date(world)
    return result


def teacher_changes_an_end_date(world):
    """Through Moodle's own web service (no history): student0001's manual enrolment gets a later end."""
    live = world['live']
    course = live.course('KA1')
    answer = live.enrolments('KA1')
    userid = [ue['userid'] for ue in answer['userenrolments'] if ue['username'] == TEACHER_CHANGED][0]
    student = [r['id'] for r in answer['roles'] if r['shortname'] == 'student'][0]
    live.client().call('enrol_manual_enrol_users', {'enrolments': [
        {'roleid': student, 'userid': userid, 'courseid': course['id'], 'timeend': LATER}]})
    world['changed_by_hand'] = manual_state(world)['KA1'][TEACHER_CHANGED]
    assert world['changed_by_hand'][0][2] == LATER


def undo_check(world):
    converted(world)
    before = dict((c, snapshot(world['live'].enrolments(c))) for c in COURSES)
    result = run(world, 'undo-check', 'awx-job-1', '-e', 'keep_access_state=absent', '--check', '--diff')
    result['unchanged'] = dict((c, snapshot(world['live'].enrolments(c))) for c in COURSES) == before
    return result


def undone(world):
    undo_check(world)
    result = run(world, 'undo', 'awx-job-2', '-e', 'keep_access_state=absent', '--diff')
    if 'after_undo' not in world:
        world['after_undo'] = manual_state(world)
    return result


def undone_twice(world):
    undone(world)
    return run(world, 'undo-again', 'awx-job-3', '-e', 'keep_access_state=absent')


def test_the_conversion_changes_every_course(world):
    result = converted(world)
    assert all(result['recap'][c]['changed'] > 0 for c in COURSES), result['recap']


def test_check_mode_undo_changes_nothing(world):
    result = undo_check(world)
    assert result['code'] == 0, result['output'][-3000:]
    assert result['unchanged']
    assert result['report']['check_mode'] and result['report']['totals']['removed'] > 0


def test_undo_from_a_fresh_controller_restores_the_before_state_exactly(world):
    result = undone(world)
    assert result['code'] == 0, result['output'][-3000:]
    for course in COURSES:
        expected, actual = dict(world['before'][course]), dict(world['after_undo'][course])
        if course == 'KA1':
            assert actual.pop(TEACHER_CHANGED) == world['changed_by_hand']      # left alone
            expected.pop(TEACHER_CHANGED)
        assert actual == expected, course
    # KA2 and KA3 (nobody touched them in between): every enrolment and role assignment as before, ids aside
    for course in ('KA2', 'KA3'):
        assert without_manual_ids(snapshot(world['live'].enrolments(course))) == \
            without_manual_ids(world['whole_before'][course]), course


def without_manual_ids(shot):
    """A snapshot without the fields an undo cannot give back (new rows have new ids, new times)."""
    drop = ('id', 'timemodified', 'timecreated')
    return dict((key, sorted(json.dumps(dict((k, v) for k, v in json.loads(row).items() if k not in drop),
                                        sort_keys=True) for row in rows)) for key, rows in shot.items())


def test_undo_reports_what_it_left_alone(world):
    report = undone(world)['report']
    courses = dict((c['course'], c) for c in report['courses'])
    assert [(f['username'], f['field'], f['found']) for f in courses['KA1']['left_alone']] == [
        (TEACHER_CHANGED, 'timeend', LATER)]
    assert courses['KA2']['removed'] == 25 and courses['KA2']['left_alone'] == []
    assert courses['KA3']['reverted'] > 0          # end dates set on KA3's manual enrolments from before


def test_a_second_undo_changes_nothing(world):
    result = undone_twice(world)
    assert result['code'] == 0, result['output'][-3000:]
    assert all(result['recap'][c]['changed'] == 0 for c in COURSES), result['recap']
    assert manual_state(world) == world['after_undo']


def test_a_conversion_after_the_undo_converts_again(world):
    undone_twice(world)
    first = dict((c['course'], c) for c in converted(world)['report']['courses'])
    again = run(world, 'convert-again', 'awx-job-4', '-e', 'keep_access_end=' + END.isoformat())
    assert again['code'] == 0, again['output'][-3000:]
    courses = dict((c['course'], c) for c in again['report']['courses'])
    assert courses['KA1']['converted'] == first['KA1']['converted'] - 1      # the student left alone
    assert [courses[c]['converted'] for c in ('KA2', 'KA3')] == [first[c]['converted'] for c in ('KA2', 'KA3')]
