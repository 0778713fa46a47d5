# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""End dates: parsing in time zones, selection of manual enrolments, set/extend, refusals."""

import calendar
import datetime

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    SUSPENDED, CourseState, PlanError, backup_from_state, format_time, parse_end, participants_now, plan_end_dates,
    resolve_timezone)
from tests.unit.test_plan_fixtures import (
    COHORT, DATABASE, MANUAL, SITE, STUDENT, TEACHER, answer, inherited_ra, instance, ra, ue)

BERLIN = resolve_timezone('Europe/Berlin')
NOW = 1780000000          # 2026-05-28
END = 1790805599          # 2026-09-30T23:59:59+02:00


def utc(*fields):
    return calendar.timegm(datetime.datetime(*fields).timetuple())


@pytest.mark.parametrize('value,zone,expected', [
    ('2026-09-30', 'Europe/Berlin', utc(2026, 9, 30, 21, 59, 59)),          # summer time, +02:00
    ('2026-12-31', 'Europe/Berlin', utc(2026, 12, 31, 22, 59, 59)),         # winter time, +01:00
    ('2026-10-25', 'Europe/Berlin', utc(2026, 10, 25, 22, 59, 59)),         # the day clocks go back
    ('2026-03-29', 'Europe/Berlin', utc(2026, 3, 29, 21, 59, 59)),          # the day clocks go forward
    ('2026-09-30', 'UTC', utc(2026, 9, 30, 23, 59, 59)),
    ('2026-09-30', 'America/Sao_Paulo', utc(2026, 10, 1, 2, 59, 59)),
    ('2026-09-30T18:00:00+02:00', 'UTC', utc(2026, 9, 30, 16, 0, 0)),
    ('2026-09-30T18:00:00Z', 'Europe/Berlin', utc(2026, 9, 30, 18, 0, 0)),
    ('2026-09-30 18:00-03:00', 'Europe/Berlin', utc(2026, 9, 30, 21, 0, 0)),
    ('1790805599', 'Europe/Berlin', 1790805599),
    (1790805599, 'Europe/Berlin', 1790805599),
    (' 2026-09-30 ', 'Europe/Berlin', utc(2026, 9, 30, 21, 59, 59)),
])
def test_parse_end(value, zone, expected):
    assert parse_end(value, resolve_timezone(zone)) == expected


@pytest.mark.parametrize('value', ['next friday', '2026-02-30', '30.09.2026', '2026-09-30T18:00',
                                   '', '0', 0, True, '99999999999', '2026-9-30', '-5'])
def test_unusable_end_is_refused_naming_option_and_value(value):
    with pytest.raises(PlanError) as err:
        parse_end(value, BERLIN)
    assert err.value.option == 'end' and str(value).strip() in str(err.value)


def test_unknown_time_zone_is_refused_naming_the_option():
    with pytest.raises(PlanError) as err:
        resolve_timezone('Europe/Atlantis')
    assert err.value.option == 'timezone' and 'Europe/Atlantis' in str(err.value)


def test_format_time_is_local_iso():
    assert format_time(END, BERLIN) == '2026-09-30T23:59:59+02:00'


def course_state():
    """Manual students 1 (no end), 2 (ends before END), 3 (ends after END), 4 suspended,
    teacher 6; 8 is database-only."""
    return CourseState.from_api(answer(
        [ue(1, MANUAL, timestart=100), ue(2, MANUAL, timeend=END - 1000), ue(3, MANUAL, timeend=END + 1000),
         ue(4, MANUAL, SUSPENDED), ue(6, MANUAL), ue(8, DATABASE)],
        [ra(1, STUDENT), ra(2, STUDENT), ra(3, STUDENT, DATABASE), ra(4, STUDENT), ra(6, TEACHER),
         ra(8, STUDENT, DATABASE)]))


def end_plan(**options):
    options.setdefault('now', NOW)
    return plan_end_dates(course_state(), END, tz=BERLIN, **options)


def test_set_gives_every_selected_active_student_exactly_that_end():
    plan = end_plan()
    assert plan.rows == [{'userid': 1, 'timeend': END}, {'userid': 2, 'timeend': END},
                         {'userid': 3, 'timeend': END}]
    assert plan.counts() == {'selected': 3, 'changed': 3, 'unchanged': 0}
    assert plan.changed_users[0] == {'userid': 1, 'username': 'user1', 'before': 0, 'after': END}


def test_extend_never_shortens_and_never_ends_an_open_enrolment():
    plan = end_plan(policy='extend')
    assert plan.rows == [{'userid': 2, 'timeend': END}]
    assert plan.counts() == {'selected': 3, 'changed': 1, 'unchanged': 2}


def test_second_run_changes_nothing():
    state = course_state()
    for row in end_plan().rows:
        state.manual_enrolment(row['userid'])['timeend'] = row['timeend']
    assert plan_end_dates(state, END, now=NOW).rows == []


@pytest.mark.parametrize('options,userids', [
    ({'status': 'suspended'}, [4]),
    ({'status': 'any'}, [1, 2, 3, 4]),
    ({'roles': ['editingteacher']}, [6]),
    ({'roles': []}, [1, 2, 3, 6]),
    ({'users': ['user2', '6'], 'roles': []}, [2, 6]),
    ({'users': [3]}, [3]),
    ({'query': '[?timeend != `0`]'}, [2, 3]),
    ({'query': "[?contains(roles, 'student') && timestart > `0`]"}, [1]),
])
def test_selection(options, userids):
    assert [r['userid'] for r in end_plan(**options).rows] == userids


def test_user_without_manual_enrolment_is_refused_naming_the_option():
    with pytest.raises(PlanError) as err:
        end_plan(users=['user8', 'nobody'])
    assert err.value.option == 'users' and "'user8', 'nobody'" in str(err.value) and 'KA1' in str(err.value)


def test_end_in_the_past_needs_allow_past():
    with pytest.raises(PlanError) as err:
        end_plan(now=END + 1)
    assert err.value.option == 'end' and '2026-09-30T23:59:59+02:00' in str(err.value)
    # user 2's enrolment ended before that "now": no longer an active participant
    assert [r['userid'] for r in end_plan(now=END + 1, allow_past=True).rows] == [1, 3]


def test_end_before_a_start_is_refused_naming_user_and_course():
    state = CourseState.from_api(answer([ue(2, MANUAL, timestart=END + 50), ue(2, DATABASE)],
                                        [ra(2, STUDENT, DATABASE)]))
    with pytest.raises(PlanError) as err:
        plan_end_dates(state, END, now=NOW, tz=BERLIN)
    assert "'user2'" in str(err.value) and 'course 2 (KA1)' in str(err.value)


def test_unknown_role_is_refused():
    with pytest.raises(PlanError) as err:
        end_plan(roles=['students'])
    assert err.value.option == 'roles'


def test_bad_query_is_refused():
    with pytest.raises(PlanError) as err:
        end_plan(query='[?timeend')
    assert err.value.option == 'query'


def test_diff_per_user():
    plan = end_plan(policy='extend')
    assert plan.diff == {'before': {'user2': {'timeend': END - 1000}}, 'after': {'user2': {'timeend': END}}}


# ----- which users step 3 selects: Moodle's Participants filters (user/classes/table/participants_search.php)

PAST, SOON = NOW - 86400 * 30, NOW + 86400 * 30


def selected(enrolments, assignments, inherited=None, instances=None, **options):
    state = CourseState.from_api(answer(enrolments, assignments, instances=instances, inherited=inherited))
    return [r['userid'] for r in plan_end_dates(state, END, now=NOW, tz=BERLIN, **options).rows]


def test_expired_manual_enrolment_of_a_former_student_is_not_given_a_new_end():
    # Status 0 and the student role, but ended a month ago and in no other enrolment: the Participants
    # filter "Status: Active" does not list this user, so the manual procedure gives no new end.
    enrolments = [ue(1, MANUAL, timeend=PAST), ue(2, MANUAL)]
    assignments = [ra(1, STUDENT), ra(2, STUDENT)]
    assert selected(enrolments, assignments) == [2]
    assert selected(enrolments, assignments, status='suspended') == [1]
    assert selected(enrolments, assignments, status='any') == [1, 2]


@pytest.mark.parametrize('name,manual,other,active', [
    ('expired manual, active database', ue(1, MANUAL, timeend=PAST), ue(1, DATABASE), True),
    ('suspended manual, active cohort', ue(1, MANUAL, SUSPENDED), ue(1, COHORT), True),
    ('manual not started yet, nothing else', ue(1, MANUAL, timestart=SOON), None, False),
    ('expired manual, database ended too', ue(1, MANUAL, timeend=PAST), ue(1, DATABASE, timeend=PAST), False),
    ('expired manual, suspended database', ue(1, MANUAL, timeend=PAST), ue(1, DATABASE, SUSPENDED), False),
    ('manual ending later, nothing else', ue(1, MANUAL, timeend=SOON), None, True),
])
def test_active_means_at_least_one_active_enrolment_by_any_method(name, manual, other, active):
    enrolments = [manual] + ([other] if other else [])
    assert selected(enrolments, [ra(1, STUDENT)]) == ([1] if active else []), name


def test_an_enrolment_in_a_disabled_instance_is_not_active():
    instances = [instance(MANUAL), instance(DATABASE, status=1)]
    enrolments = [ue(1, MANUAL, timeend=PAST), ue(1, DATABASE)]
    assert selected(enrolments, [ra(1, STUDENT)], instances=instances) == []
    assert selected(enrolments, [ra(1, STUDENT)], instances=instances, status='suspended') == [1]


def test_a_user_can_be_active_and_suspended_at_once():
    enrolments = [ue(1, MANUAL, SUSPENDED), ue(1, DATABASE)]
    for status in ('active', 'suspended'):
        assert selected(enrolments, [ra(1, STUDENT)], status=status) == [1]


def test_now_is_rounded_to_100_seconds_like_the_participants_page():
    assert (participants_now(1780000049), participants_now(1780000050)) == (1780000000, 1780000100)
    state = CourseState.from_api(answer([ue(1, MANUAL, timeend=1780000080)], [ra(1, STUDENT)]))
    assert plan_end_dates(state, END, now=1780000049).counts()['selected'] == 1
    assert plan_end_dates(state, END, now=1780000050).counts()['selected'] == 0, 'rounded to ...100: ended'


def test_deleted_accounts_are_never_selected():
    assert selected([ue(1, MANUAL, deleted=1), ue(2, MANUAL)], [ra(1, STUDENT), ra(2, STUDENT)]) == [2]


def test_a_role_assigned_in_the_category_counts_for_the_roles_filter():
    enrolments = [ue(1, MANUAL), ue(2, MANUAL)]
    assert selected(enrolments, [], inherited=[inherited_ra(1, STUDENT), inherited_ra(2, TEACHER, 10)]) == [1]
    assert selected(enrolments, [], inherited=[inherited_ra(2, TEACHER, 10)], roles=['editingteacher']) == [2]


def test_a_role_assigned_in_the_category_is_neither_a_manual_copy_nor_backed_up():
    course = answer([ue(1, DATABASE), ue(1, MANUAL)], [ra(1, STUDENT, DATABASE)],
                    inherited=[inherited_ra(1, TEACHER), inherited_ra(1, STUDENT)])
    state = CourseState.from_api(course)
    assert state.manual_roleids(1) == set()
    assert state.role_shortnames(1) == ['editingteacher', 'student']
    backup = backup_from_state(state, ['database', 'manual'], SITE, '2026-08-20T10:00:00Z')
    assert [(row['enrol'], [r['shortname'] for r in row['roles']]) for row in backup['enrolments']] == [
        ('manual', []), ('database', ['student'])]


# ----- the dry run: assume_enrolments of moodle_set_enrol_end selects with the same rule

def assumed(userid, status='active', timestart=0, timeend=0, roles=('student',)):
    return {'userid': userid, 'username': 'user%d' % userid, 'status': status, 'timestart': timestart,
            'timeend': timeend, 'roles': list(roles)}


def test_assumed_enrolments_are_in_an_enabled_instance_and_selected_like_real_ones():
    from ansible_collections.cemu.moodle.plugins.module_utils.end_check import with_assumed_enrolments
    disabled_manual = [instance(MANUAL, status=1), instance(DATABASE)]
    real = CourseState.from_api(answer([ue(1, DATABASE, SUSPENDED), ue(3, DATABASE, SUSPENDED)],
                                       [ra(1, STUDENT, DATABASE)], instances=disabled_manual,
                                       inherited=[inherited_ra(3, STUDENT)]))
    state = with_assumed_enrolments(real, [assumed(1), assumed(2, timeend=PAST), assumed(3, roles=[])])
    plan = plan_end_dates(state, END, now=NOW, tz=BERLIN)
    # 1: the assumed manual enrolment is active (the restore enables the instance); 2: it ended, and the
    # user has no other enrolment; 3: active, and a student through the category only
    assert [r['userid'] for r in plan.rows] == [1, 3]
    assert state.manual_roleids(3) == set(), 'a category role is not turned into a course assignment'
