# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup, restore as manual enrolments and end date through real ansible-playbook, on both backends.

The same story runs on the simulator's ``recorded`` fixture and, when one is
configured, on a real Moodle holding the live fixture (tests/live/README.md):
KA1 fed by the external database, KA2 by cohort sync, KA3 mixed (manual
enrolments, one of them suspended by hand), KA4 without a manual instance.
In order: reset; a check-mode run changes nothing and predicts the real run;
the real run converts KA1-KA3 and fails on KA4 naming the course and the
option that would help; a second run changes nothing; the source drops
everyone; every converted user still holds an active manual enrolment with
their role and, students, the end date; no welcome message was stored.

Every expectation is computed from what the backend held before the first
run, so the assertions are the same for both backends.
"""

import datetime
import time
import zoneinfo

import pytest

# moodle_backend is the parametrized pytest fixture the tests below request by name.
from tests.integration.backends import moodle_backend  # noqa: F401 pylint: disable=unused-import
from tests.integration.module_runner import Task, run_tasks
from tests.live.live_backend import automatic_roles, automatic_users, manual_by_user, roles_by_user, snapshot

CONVERTED = ('KA1', 'KA2', 'KA3')
NO_MANUAL_INSTANCE = 'KA4'
COURSES = CONVERTED + (NO_MANUAL_INSTANCE,)
END = datetime.date(datetime.date.today().year + 1, 6, 30)
MODULES = ('moodle_backup_enrolments', 'moodle_restore_manual', 'moodle_set_enrol_end')


class Story:
    """The runs of the story on one backend, each done once, in order, whichever test asks first."""

    def __init__(self, backend, tmp):
        self.backend = backend
        self.tmp = tmp
        self.steps = {}
        backend.reset_fixture()
        self.before = self.states()
        self.welcome_before = backend.welcome_count()

    def states(self):
        return dict((name, self.backend.course_state(name)) for name in COURSES)

    def run(self, name, tasks):
        workdir = self.tmp / ('play-' + name)
        workdir.mkdir()
        played = run_tasks(tasks, self.backend.connection(), workdir=str(workdir), timeout=1800)
        assert self.backend.token not in played.output, 'the token appeared in the playbook output'
        results = {}
        for task, result in zip(tasks, played.results):
            results.setdefault((task.module, task.options['course']), []).append(result)
        return results

    def step(self, name):
        """A step of the story: {'results': {(module, course): [results]}, 'before': states, 'after': states}."""
        order = ('check', 'real', 'second', 'drop')
        for earlier in order[:order.index(name) + 1]:
            if earlier not in self.steps:
                self.steps[earlier] = self._do(earlier)
        return self.steps[name]

    def _do(self, name):
        before = self.states()
        results = self.backend.drop_source(CONVERTED) if name == 'drop' else self.run(name, self._tasks(name))
        return {'results': results, 'before': before, 'after': self.states()}

    def _tasks(self, name):
        backups = str(self.tmp / 'backups')
        return {'check': check_tasks, 'real': real_tasks, 'second': second_tasks}[name](backups)


def check_tasks(backups):
    """Back up (writes only a file), then restore and set the end date in check mode."""
    return [task for course in CONVERTED for task in (
        Task('moodle_backup_enrolments', course=course, backup_dir=backups),
        Task('moodle_restore_manual', check=True, diff=True, course=course, backup_dir=backups),
        Task('moodle_set_enrol_end', check=True, diff=True, course=course, end=END.isoformat()))]


def conversion_tasks(backups):
    return [task for course in CONVERTED for task in (
        Task('moodle_restore_manual', course=course, backup_dir=backups),
        Task('moodle_set_enrol_end', course=course, end=END.isoformat()))]


def real_tasks(backups):
    """Convert KA1-KA3 from their backups; back up and try to restore the course without a manual instance."""
    return conversion_tasks(backups) + [
        Task('moodle_backup_enrolments', course=NO_MANUAL_INSTANCE, backup_dir=backups),
        Task('moodle_restore_manual', course=NO_MANUAL_INSTANCE, backup_dir=backups)]


def second_tasks(backups):
    """The whole chain again on the converted courses."""
    return [Task('moodle_backup_enrolments', course=course, backup_dir=backups)
            for course in CONVERTED] + conversion_tasks(backups)


@pytest.fixture(scope='module')
def story(moodle_backend, tmp_path_factory):  # noqa: F811 (pytest injects the imported fixture)
    return Story(moodle_backend, tmp_path_factory.mktemp('chain-' + moodle_backend.name))


def results_of(step, module, course):
    """The results of ``module`` on ``course`` in a playbook step, in task order."""
    return step['results'].get((module, course), [])


def all_results(step):
    return [result for results in step['results'].values() for result in results]


def usernames(users):
    return sorted(u['username'] for u in users)


def without_manual_enrolment(before):
    """Usernames the source feeds that hold no manual enrolment yet: the ones a restore creates."""
    manual = manual_by_user(before)
    return sorted(name for userid, name in automatic_users(before).items() if userid not in manual)


def end_timestamp(enrolments):
    """END at 23:59:59 in the course's time zone, as moodle_set_enrol_end computes it."""
    zone = zoneinfo.ZoneInfo(enrolments['timezone'])
    return int(datetime.datetime.combine(END, datetime.time(23, 59, 59), zone).timestamp())


def active_now(before, ue):
    """Moodle's Participants test of one enrolment: not suspended, instance enabled, started, not ended."""
    now = time.time()
    enabled = dict((i['id'], i['status'] == 0) for i in before['instances'])
    return (ue['status'] == 0 and enabled.get(ue['enrolid'], False) and ue['timestart'] < now
            and (ue['timeend'] == 0 or ue['timeend'] > now))


def expected_manual(before, userid, end):
    """(status, timeend) of a fed user's manual enrolment after the chain: active unless suspended by hand
    (or suspended in every source); the end date for students the Participants page lists as active (an
    active source enrolment, or an active manual one), even on a manual enrolment kept suspended; others'
    end date untouched."""
    previous = manual_by_user(before).get(userid)
    sources = [ue for ue in before['userenrolments'] if ue['userid'] == userid and ue['enrol'] != 'manual']
    suspended = (previous is not None and previous['status'] == 1) or all(ue['status'] == 1 for ue in sources)
    listed = not suspended or any(active_now(before, ue) for ue in sources)
    if listed and 'student' in automatic_roles(before).get(userid, ()):
        return int(suspended), end
    return int(suspended), previous['timeend'] if previous else 0


def conversion_problems(before, after):
    """What differs, user by user, from: every user the source fed holds the course's manual enrolment with
    the expected status and end date, and a manual copy of each role the source gave them."""
    manual, manual_roles, end = manual_by_user(after), roles_by_user(after, component=''), end_timestamp(after)
    problems = []
    for userid, username in sorted(automatic_users(before).items()):
        enrolment = manual.get(userid)
        if enrolment is None:
            problems.append('%s: no manual enrolment' % username)
            continue
        found, expected = (enrolment['status'], enrolment['timeend']), expected_manual(before, userid, end)
        if found != expected:
            problems.append('%s: (status, timeend) %s, expected %s' % (username, found, expected))
        missing = automatic_roles(before).get(userid, set()) - manual_roles.get(userid, set())
        if missing:
            problems.append('%s: no manual copy of %s' % (username, sorted(missing)))
    return problems


def test_the_fixture_holds_what_the_story_needs(story):
    for name in CONVERTED:
        assert automatic_users(story.before[name]), '%s: nobody fed by the source' % name
        assert any(i['enrol'] == 'manual' for i in story.before[name]['instances']), name
    assert not any(i['enrol'] == 'manual' for i in story.before[NO_MANUAL_INSTANCE]['instances'])
    assert any(ue['status'] == 1 for ue in manual_by_user(story.before['KA3']).values())


def test_check_mode_changes_nothing_and_predicts_the_real_run(story):
    check, real = story.step('check'), story.step('real')
    for result in all_results(check):
        assert not result.get('failed'), result.get('msg')
    for name in CONVERTED:
        assert snapshot(check['after'][name]) == snapshot(story.before[name]), '--check changed ' + name
        predicted = results_of(check, 'moodle_restore_manual', name)[0]
        assert predicted['changed'] is True and predicted['restore_record'] is None
        assert usernames(predicted['created']) == without_manual_enrolment(story.before[name]), name
        assert usernames(results_of(real, 'moodle_restore_manual', name)[0]['created']) == usernames(
            predicted['created']), name


def test_restore_and_end_date_convert_every_user_the_source_feeds(story):
    real = story.step('real')
    for name in CONVERTED:
        for module in ('moodle_restore_manual', 'moodle_set_enrol_end'):
            result = results_of(real, module, name)[0]
            assert not result.get('failed') and result['changed'] is True, (name, module, result.get('msg'))
        assert conversion_problems(story.before[name], real['after'][name]) == [], name


def test_a_course_without_manual_instance_fails_naming_the_course_and_the_option(story):
    real = story.step('real')
    assert not results_of(real, 'moodle_backup_enrolments', NO_MANUAL_INSTANCE)[0].get('failed')
    restore = results_of(real, 'moodle_restore_manual', NO_MANUAL_INSTANCE)[0]
    assert restore.get('failed') is True
    assert "course '%s'" % NO_MANUAL_INSTANCE in restore['msg'] and 'create_manual_instance' in restore['msg']
    assert snapshot(real['after'][NO_MANUAL_INSTANCE]) == snapshot(story.before[NO_MANUAL_INSTANCE])


def test_second_run_changes_nothing(story):
    second = story.step('second')
    for module in MODULES:
        for name in CONVERTED:
            result = results_of(second, module, name)
            assert result and not result[0].get('failed'), (name, module, result and result[0].get('msg'))
            assert result[0]['changed'] is False, (name, module)
    for name in COURSES:
        assert snapshot(second['after'][name]) == snapshot(second['before'][name]), 'second run changed ' + name


def test_every_converted_user_keeps_access_after_the_source_drop(story):
    after = story.step('drop')['after']
    for name in CONVERTED:
        assert automatic_users(after[name]) == {}, '%s: the source still feeds users' % name
        assert conversion_problems(story.before[name], after[name]) == [], name


def test_no_welcome_message_was_stored(story):
    story.step('drop')
    after = story.backend.welcome_count()
    if after is None:
        pytest.skip('MOODLE_LIVE_PSQL is not set: the welcome messages are counted in mdl_notifications')
    assert after == story.welcome_before
