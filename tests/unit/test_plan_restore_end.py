# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One write per user: the restore with the end date folded in (plan_restore(end_dates=...)) leaves every
user exactly as the restore followed by the end-date step does, and the end-date step then has nothing
left to do for the users the restore wrote."""

import copy
from collections import Counter

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    SUSPENDED, CourseState, PlanError, backup_from_state, plan_end_dates, plan_restore, plan_undo,
    resolve_timezone)
from tests.unit.test_plan_fixtures import (
    COHORT, DATABASE, MANUAL, SITE, STUDENT, TEACHER, answer, apply_rows, inherited_ra, ra, ue)

BERLIN = resolve_timezone('Europe/Berlin')
NOW = 1780000000          # 2026-05-28
END = 1790805599          # 2026-09-30T23:59:59+02:00
SETTLED = [8]


def course():
    """Every kind of user the two steps treat differently:
    1 new (database, student); 2 active manual ending before the database row, merged; 3 manual already
    covering, with its student copy (the restore leaves it alone); 4 manual suspended, active by database,
    role copy missing (kept suspended); 5 database suspended only; 6 a teacher; 7 new by cohort, student, ending
    after the end; 8 settled by an earlier restore (end set since), role copy missing; 9 database
    without a course role, student in the category; 10 a deleted account."""
    return answer(
        [ue(1, DATABASE, timestart=100), ue(2, DATABASE, timestart=10), ue(2, MANUAL, timestart=50, timeend=900),
         ue(3, MANUAL), ue(3, DATABASE), ue(4, MANUAL, SUSPENDED), ue(4, DATABASE), ue(5, DATABASE, SUSPENDED),
         ue(6, DATABASE), ue(7, COHORT, timestart=200, timeend=END + 5000), ue(8, DATABASE),
         ue(8, MANUAL, timeend=END - 1000), ue(9, DATABASE), ue(10, DATABASE, deleted=1)],
        [ra(1, STUDENT, DATABASE), ra(2, STUDENT, DATABASE), ra(3, STUDENT), ra(3, STUDENT, DATABASE),
         ra(4, STUDENT, DATABASE), ra(5, STUDENT, DATABASE), ra(6, TEACHER, DATABASE), ra(7, STUDENT, COHORT),
         ra(8, STUDENT, DATABASE), ra(10, STUDENT, DATABASE)],
        inherited=[inherited_ra(9, STUDENT)])


def backup_of(course_answer):
    return backup_from_state(CourseState.from_api(course_answer), ['database', 'cohort'], SITE,
                             '2026-08-20T10:00:00Z')


def end_options(**options):
    return dict(dict(end=END, now=NOW, tz=BERLIN), **options)


def outcome(course_answer):
    """Per user: the manual enrolment (status, timestart, timeend) and every role held in the course."""
    state = CourseState.from_api(course_answer)
    result = {}
    for userid in sorted(state.enrolments_by_user):
        manual = state.manual_enrolment(userid)
        fields = (manual['status'], manual['timestart'], manual['timeend']) if manual else None
        result[userid] = (fields, state.role_shortnames(userid), sorted(state.manual_roleids(userid)))
    return result


def write(course_answer, rows, writes):
    apply_rows(course_answer, rows)
    writes.update(row['userid'] for row in rows)


def two_steps(options):
    """Today: the restore, then moodle_set_enrol_end on what it left."""
    answer_, writes = course(), Counter()
    restore = plan_restore(backup_of(answer_), CourseState.from_api(answer_), settled=SETTLED)
    write(answer_, restore.rows, writes)
    ends = plan_end_dates(CourseState.from_api(answer_), **options)
    write(answer_, ends.rows, writes)
    return answer_, writes, restore, ends


def one_write(options):
    """The restore with the end date folded in, then the end-date step for the others."""
    answer_, writes = course(), Counter()
    restore = plan_restore(backup_of(answer_), CourseState.from_api(answer_), settled=SETTLED, end_dates=options)
    write(answer_, restore.rows, writes)
    ends = plan_end_dates(CourseState.from_api(answer_), **options)
    write(answer_, ends.rows, writes)
    return answer_, writes, restore, ends


OPTION_CASES = [
    ('defaults: students, active, set', {}),
    ('extend', {'policy': 'extend'}),
    ('any status', {'status': 'any'}),
    ('suspended status', {'status': 'suspended'}),
    ('every role', {'roles': []}),
    ('teachers', {'roles': ['editingteacher']}),
    ('query', {'query': '[?timeend == `0`]'}),
    ('users', {'users': ['user1', '4', 'user3']}),
]


@pytest.mark.parametrize('name,options', OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_folded_restore_leaves_every_user_as_restore_then_end_date(name, options):
    before, _writes, _restore, _ends = two_steps(end_options(**options))
    after, writes, restore, ends = one_write(end_options(**options))
    assert outcome(after) == outcome(before)
    assert max(writes.values()) == 1, 'every user is written once at most'
    written_by_restore = set(row['userid'] for row in restore.rows)
    assert not written_by_restore & set(row['userid'] for row in ends.rows), \
        'the end-date step has nothing left to do for the users the restore wrote'


def test_default_options_write_each_converted_student_once_instead_of_twice():
    _before, writes_before, _restore, ends_before = two_steps(end_options())
    _after, writes, restore, ends = one_write(end_options())
    assert sorted(u for u, n in writes_before.items() if n == 2) == [1, 2, 4, 7, 8, 9]
    assert sorted(c['userid'] for c in restore.end_dates_set) == [1, 2, 4, 7, 8, 9]
    # user 3 (nothing to convert) still gets the end from the end-date step, alone
    assert ends.rows == [{'userid': 3, 'timeend': END}] and writes[3] == 1
    # what the end-date step would have reported, now reported by the restore (same before and after)
    assert by_user(restore.end_dates_set + ends.changed_users) == by_user(ends_before.changed_users)
    assert sum(writes.values()) == sum(writes_before.values()) - 6


def by_user(changes):
    return sorted(changes, key=lambda change: change['userid'])


def test_folded_rows_carry_the_end_and_the_restores_own_fields():
    _after, _writes, restore, _ends = one_write(end_options())
    rows = dict((row['userid'], row) for row in restore.rows)
    assert rows[1] == {'userid': 1, 'status': 0, 'timestart': 100, 'timeend': END, 'roleids': [STUDENT]}
    assert rows[2] == {'userid': 2, 'timestart': 10, 'timeend': END, 'roleids': [STUDENT]}
    assert rows[4] == {'userid': 4, 'roleids': [STUDENT], 'timeend': END}, 'kept suspended: only the end and roles'
    assert rows[5]['timeend'] == 0, 'suspended everywhere: not listed as active, no end'
    assert rows[6]['timeend'] == 0, 'a teacher gets no student end'
    assert [u['userid'] for u in restore.kept_suspended] == [4]


def test_diff_and_record_show_the_end_written_with_the_restore():
    _after, _writes, restore, _ends = one_write(end_options())
    assert restore.diff['after']['user1']['timeend'] == END
    assert restore.diff['before']['user2']['timeend'] == 900 and restore.diff['after']['user2']['timeend'] == END
    updates = dict((u['userid'], u) for u in restore.record_changes()['updated_enrolments'])
    assert updates[2] == {'userid': 2, 'before': {'status': 0, 'timestart': 50, 'timeend': 900},
                          'after': {'status': 0, 'timestart': 10, 'timeend': END}}
    assert updates[4]['after'] == {'status': SUSPENDED, 'timestart': 0, 'timeend': END}
    assert updates[8]['before']['timeend'] == END - 1000 and updates[8]['after']['timeend'] == END


def test_undo_of_the_folded_restore_gives_back_the_course_as_it_was():
    original = course()
    answer_, _writes, restore, _ends = one_write(end_options())
    undo = plan_undo(restore.record_changes(), CourseState.from_api(answer_))
    from tests.unit.test_plan_fixtures import remove_rows
    remove_rows(answer_, undo.remove_rows)
    apply_rows(answer_, undo.revert_rows)
    restored = outcome(answer_)
    for userid in (1, 2, 4, 7, 8, 9):
        assert restored[userid] == outcome(original)[userid]


def test_an_end_before_a_start_stops_the_restore_before_any_write():
    answer_ = course()
    answer_['userenrolments'].append(ue(11, DATABASE, timestart=END + 100))
    answer_['roleassignments'].append(ra(11, STUDENT, DATABASE))
    with pytest.raises(PlanError) as err:
        plan_restore(backup_of(answer_), CourseState.from_api(answer_), end_dates=end_options(status='any'))
    assert err.value.option == 'end_date' and "user 'user11'" in str(err.value)
    # not started yet, so not listed as active: the end-date step would not select user 11 either
    assert plan_restore(backup_of(answer_), CourseState.from_api(answer_), end_dates=end_options()).rows


def test_a_past_end_stops_the_restore_unless_allowed():
    answer_ = course()
    with pytest.raises(PlanError) as err:
        plan_restore(backup_of(answer_), CourseState.from_api(answer_), end_dates=end_options(end=NOW - 10))
    assert err.value.option == 'end_date' and 'in the past' in str(err.value)
    plan = plan_restore(backup_of(answer_), CourseState.from_api(answer_),
                        end_dates=end_options(end=NOW - 10, allow_past=True))
    assert dict((r['userid'], r['timeend']) for r in plan.rows)[1] == NOW - 10


def test_without_end_dates_the_restore_plan_is_unchanged():
    answer_ = course()
    plain = plan_restore(backup_of(answer_), CourseState.from_api(answer_), settled=SETTLED)
    assert plain.end_dates_set == []
    assert dict((r['userid'], r.get('timeend')) for r in plain.rows)[1] == 0
    assert copy.deepcopy(plain.rows) == plan_restore(backup_of(course()), CourseState.from_api(course()),
                                                     settled=SETTLED).rows
