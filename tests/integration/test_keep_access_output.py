# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How much ``ansible-playbook cemu.moodle.keep_access`` prints: bounded per course, no warning for normal courses.

The simulator's ``bench`` fixture: COURSES courses fed by the external database only (no cohort instance:
normal, so no warning), STUDENTS students each. Ansible's default callback prints one line per course per
task that runs for it: the end-date check before any write (``skipping``), the three steps and the PLAY
RECAP, so LINES_PER_COURSE at default verbosity; everything else (banners, the site check, the run report,
which lists only the courses that need a look once a run has more than 20) is a fixed number of lines.
With --diff each course adds the backup's one line and one line per user. With the collection's stdout
callback ``cemu.moodle.concise`` (the README's advice for big runs) a run prints a fixed number of lines,
whatever the number of courses, and still every warning. Line counts, never time.
"""

import datetime
import glob
import os

import pytest

from tests.demo import runner
from tests.simulator import Simulator

COURSES = 25
STUDENTS = 3
LINES_PER_COURSE = 4            # backup, restore, end date, PLAY RECAP (the stop check is one task for all)
FIXED_LINES = 65                # banners, the site check, the report (at most 20 courses listed), the recap's play
CONCISE = {'ANSIBLE_STDOUT_CALLBACK': 'cemu.moodle.concise'}
TOKEN = 'output-lines-token-77d2'


def damage_newest_backup(backups, course_id):
    """Make one course's newest backup unreadable: the next backup warns (a person must look) and writes anew."""
    folder = glob.glob(os.path.join(backups, '*', 'course-%d' % course_id))[0]
    newest = sorted(glob.glob(os.path.join(folder, 'enrolments-*.json')))[-1]
    with open(newest, 'w') as handle:
        handle.write('{damaged')


def course_id(sim, shortname):
    return next(c['id'] for c in sim.state.tables['courses'].values() if c['shortname'] == shortname)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('output')
    sim = Simulator(version='4.5', fixture='bench', token=TOKEN, courses=COURSES, students=STUDENTS, big=0).start()

    def inventory(name):
        path = str(tmp / name / 'inventory')
        runner.write_site(path, sim.url, 'bench', TOKEN, {
            'keep_access_end': datetime.date(datetime.date.today().year + 1, 3, 31).isoformat(),
            'keep_access_backup_dir': str(tmp / name / 'backups'),
            'keep_access_report_dir': str(tmp / name / 'reports'),
        })
        return path

    def play(name, path, *args, env=None):
        code, output = runner.run_playbook(path, *args, env=env)
        with open(str(tmp / (name.replace(' ', '_') + '.out')), 'w') as handle:
            handle.write(output)        # to read when a bound fails
        assert code == 0, output[-4000:]
        results[name] = output

    results = {}
    try:
        default = inventory('default')
        play('first --diff', default, '--diff')
        play('re-run', default)
        sim.reset(fixture='bench', courses=COURSES, students=STUDENTS, big=0)
        concise = inventory('concise')
        play('first concise', concise, env=CONCISE)
        damage_newest_backup(str(tmp / 'concise' / 'backups'), course_id(sim, 'BENCH-0003'))
        play('re-run concise', concise, env=CONCISE)
        yield results
    finally:
        sim.stop()


def course_lines(output):
    """{course: number of lines naming it}, for every course but the first (run_once tasks run on it)."""
    counts = dict(('BENCH-%04d' % n, 0) for n in range(2, COURSES + 1))
    for line in output.splitlines():
        for course in counts:
            if course in line:
                counts[course] += 1
    return counts


def diff_lines(output):
    return [line for line in output.splitlines() if line.startswith(('backup of course', 'bench'))]


def test_default_verbosity_prints_a_fixed_number_of_lines_per_course(runs):
    output = runs['re-run']
    assert set(course_lines(output).values()) == {LINES_PER_COURSE}, course_lines(output)
    assert len(output.splitlines()) <= LINES_PER_COURSE * COURSES + FIXED_LINES, output


def test_a_course_fed_by_one_source_gives_no_warning(runs):
    for name in ('first --diff', 're-run', 'first concise'):
        assert '[WARNING]' not in runs[name], (name, runs[name])


def test_the_diff_adds_one_line_for_the_backup_and_one_per_user_and_step(runs):
    output = runs['first --diff']
    # per course: the restore's lines (students and the teacher); the restore dates the students in the same
    # write (one write per user), so the end-date step has no line left; the backup, a copy of what Moodle holds,
    # is no change and shows no diff
    assert len(diff_lines(output)) == COURSES * (STUDENTS + 1), diff_lines(output)
    assert set(course_lines(output).values()) == {LINES_PER_COURSE}
    assert len(output.splitlines()) <= (LINES_PER_COURSE + 1 + 2 * STUDENTS + 1) * COURSES + FIXED_LINES, output


def test_the_report_lists_no_course_when_every_course_went_well(runs):
    output = runs['re-run']
    assert ('(0 of %d courses listed: those that failed, skipped users or left fields alone; every course is in '
            'the report files)' % COURSES) in output


def test_the_concise_callback_prints_a_fixed_number_of_lines_whatever_the_number_of_courses(runs):
    for name in ('first concise', 're-run concise'):
        output = runs[name]
        assert not any(course_lines(output).values()), (name, course_lines(output))
        assert len(output.splitlines()) <= FIXED_LINES, (name, output)
        assert 'totals: %d courses' % COURSES in output, 'the run report is shown'
    assert '%d changed' % COURSES in runs['first concise'], 'each task says how many courses changed'
    assert '%d other hosts' % COURSES in runs['re-run concise']


def test_the_concise_callback_still_shows_a_warning_a_person_must_act_on(runs):
    warnings = [line for line in runs['re-run concise'].splitlines() if '[WARNING]' in line]
    assert len(warnings) == 1 and 'a new backup is written next to it' in warnings[0], warnings
