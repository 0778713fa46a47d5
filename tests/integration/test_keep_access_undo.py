# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Undo a whole run from a fresh controller: ``-e keep_access_state=absent`` with the real ansible-playbook.

The simulator's `recorded` fixture (KA1-KA3: database and cohort students, students with manual
enrolments from before, one kept suspended) is converted with an end date; then, as a new AWX job
would, a controller with an empty backup folder and an empty report folder undoes it from Moodle's
history. Moodle is read back and compared, per user, with the state before the conversion: manual
enrolment (present, status, start, end) and manual roles. A teacher's change made in between is
left alone and reported. The runs happen once each, in order.
"""

import datetime

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi
from tests.demo import runner
from tests.simulator import Simulator

END = datetime.date(datetime.date.today().year + 1, 6, 30)
LATER = 4102444799           # 2099-12-31 23:59:59 UTC: the teacher's own end date for one student
COURSES = ('KA1', 'KA2', 'KA3')
TOKEN = 'integration-token-undo-0001'


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('keep_access_undo')
    sim = Simulator(version='4.5', fixture='recorded', token=TOKEN).start()
    api = KeepAccessApi(MoodleClient(sim.url, TOKEN))
    inventory = str(tmp / 'inventory')
    # no keep_access_end in the site's variables: the conversion gets it with -e, the undo needs none
    runner.write_site(inventory, sim.url, 'site_b', TOKEN, {}, extra={'shortname_pattern': '^KA[1-3]$'})
    ids = dict((c, api.find_course(c, by='shortname')['id']) for c in COURSES)
    world = {'tmp': tmp, 'sim': sim, 'api': api, 'inventory': inventory, 'ids': ids, 'runs': {},
             'before': dict((c, manual_snapshot(api, ids[c])) for c in COURSES)}
    yield world
    sim.stop()


def manual_snapshot(api, courseid):
    """{username: (manual enrolment (status, timestart, timeend) or None, sorted manual role ids)}."""
    answer = api.read_course_enrolments(courseid)
    manual_ids = set(i['id'] for i in answer['instances'] if i['enrol'] == 'manual')
    users = dict((ue['userid'], ue['username']) for ue in answer['userenrolments'])
    snapshot = dict((name, [None, []]) for name in users.values())
    for ue in answer['userenrolments']:
        if ue['enrolid'] in manual_ids:
            snapshot[ue['username']][0] = (ue['status'], ue['timestart'], ue['timeend'])
    for ra in answer['roleassignments']:
        if ra['component'] == '' and int(ra['itemid']) == 0 and ra['userid'] in users:
            snapshot[users[ra['userid']]][1].append(ra['roleid'])
    return dict((name, (enrolment, sorted(roles))) for name, (enrolment, roles) in snapshot.items())


def snapshots(world):
    return dict((c, manual_snapshot(world['api'], world['ids'][c])) for c in COURSES)


def run(world, name, controller, *args):
    """Each named run happens once, in order; ``controller`` names its own backup folder (a fresh one: empty)."""
    if name not in world['runs']:
        report_dir = str(world['tmp'] / controller / 'reports' / name)
        backup_dir = str(world['tmp'] / controller / 'backups')
        code, output = runner.run_playbook(world['inventory'], '-e', 'keep_access_report_dir=' + report_dir,
                                           '-e', 'keep_access_backup_dir=' + backup_dir, *args)
        world['runs'][name] = {'code': code, 'output': output, 'recap': runner.recap(output),
                               'report': runner.load_report(report_dir) if runner.report_files(report_dir)[0] else None}
    return world['runs'][name]


def converted(world):
    result = run(world, 'convert', 'cron-host', '-e', 'keep_access_end=' + END.isoformat())
    assert result['code'] == 0, result['output'][-3000:]
    if 'teacher_change' not in world:
        # a teacher gives one converted student of KA1 a later end by hand, after the run
        username, userid = first_created_student(world)
        world['teacher_change'] = username
        instance = world['sim'].manual_instance(world['ids']['KA1'])
        ue = world['sim'].state.user_enrolment(instance['id'], userid)
        world['sim'].state.update('user_enrolments', ue['id'], timeend=LATER)
        world['changed_by_hand'] = snapshots(world)['KA1'][username]
    return result


def first_created_student(world):
    answer = world['api'].read_course_enrolments(world['ids']['KA1'])
    names = dict((ue['userid'], ue['username']) for ue in answer['userenrolments'])
    created = sorted(u for u, (enrolment, _roles) in world['before']['KA1'].items() if enrolment is None
                     and u.startswith('student'))
    userid = [uid for uid, name in names.items() if name == created[0]][0]
    return created[0], userid


def undo_check(world):
    converted(world)
    before = world['sim'].dump_state()
    result = run(world, 'undo-check', 'awx-job-1', '-e', 'keep_access_state=absent', '--check', '--diff')
    result['unchanged'] = world['sim'].dump_state() == before
    return result


def undone(world):
    undo_check(world)
    result = run(world, 'undo', 'awx-job-2', '-e', 'keep_access_state=absent', '--diff')
    if 'after_undo' not in world:
        world['after_undo'] = snapshots(world)
    return result


def undone_twice(world):
    undone(world)
    return run(world, 'undo-again', 'awx-job-3', '-e', 'keep_access_state=absent')


def test_the_conversion_changes_every_course(world):
    result = converted(world)
    assert result['code'] == 0, result['output'][-3000:]
    assert all(result['recap']['KA%d' % n]['changed'] > 0 for n in (1, 2, 3)), result['recap']
    assert snapshots(world)['KA2'] != world['before']['KA2']


def test_check_mode_undo_changes_nothing_and_shows_who_would_be_removed(world):
    result = undo_check(world)
    assert result['code'] == 0, result['output'][-3000:]
    assert result['unchanged']
    report = result['report']
    assert report['check_mode'] and report['totals']['removed'] > 0
    lines = [line.split() for line in result['output'].splitlines()]
    assert not [line for line in lines if line[:1] == [world['teacher_change']]]  # left alone: not in the diff
    removed = [line for line in lines if line[:1] == ['student0002']]         # KA1's created students
    assert removed and all('removed' in line for line in removed), removed
    assert 'keep_access undo report (check mode: nothing was changed)' in result['output']


def test_undo_from_a_fresh_controller_restores_the_before_state_exactly(world):
    result = undone(world)
    assert result['code'] == 0, result['output'][-3000:]
    after = world['after_undo']
    teacher = world['teacher_change']
    for course in COURSES:
        expected = dict(world['before'][course])
        actual = dict(after[course])
        if course == 'KA1':
            # left alone: the enrolment a teacher changed after the run, with its role
            assert actual.pop(teacher) == world['changed_by_hand']
            expected.pop(teacher)
        assert actual == expected, course


def test_undo_reports_per_course_what_it_reverted_and_what_it_left_alone(world):
    result = undone(world)
    check = undo_check(world)['report']
    report = result['report']
    courses = dict((c['course'], c) for c in report['courses'])
    assert [(f['username'], f['field'], f['found']) for f in courses['KA1']['left_alone']] == [
        (world['teacher_change'], 'timeend', LATER)]
    assert courses['KA2']['left_alone'] == [] and courses['KA2']['removed'] > 0
    assert any(courses[c]['reverted'] > 0 for c in COURSES)        # end dates set on enrolments from before
    assert 'LEFT ALONE KA1: %s timeend' % world['teacher_change'] in result['output']
    # the dry run said the same, course by course
    counts = ('removed', 'reverted', 'roles_unassigned', 'left_alone')
    assert dict((c['course'], [c[k] for k in counts]) for c in check['courses']) == \
        dict((c, [courses[c][k] for k in counts]) for c in COURSES)


def test_a_second_undo_changes_nothing(world):
    result = undone_twice(world)
    assert result['code'] == 0, result['output'][-3000:]
    assert all(result['recap'][c]['changed'] == 0 for c in COURSES), result['recap']
    assert snapshots(world) == world['after_undo']


def test_a_conversion_after_the_undo_converts_again(world):
    undone_twice(world)
    first = dict((c['course'], c) for c in converted(world)['report']['courses'])
    again = run(world, 'convert-again', 'awx-job-4', '-e', 'keep_access_end=' + END.isoformat())
    courses = dict((c['course'], c) for c in again['report']['courses'])
    assert again['code'] == 0, again['output'][-3000:]
    # KA1's student whose enrolment a teacher changed was left, so is not converted again
    assert courses['KA1']['converted'] == first['KA1']['converted'] - 1
    assert [courses[c]['converted'] for c in ('KA2', 'KA3')] == [first[c]['converted'] for c in ('KA2', 'KA3')]
