# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""End dates: parsing in time zones, selection of manual enrolments, set/extend, refusals."""

import calendar
import datetime

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    SUSPENDED, CourseState, PlanError, format_time, parse_end, plan_end_dates, resolve_timezone)
from tests.unit.test_plan_fixtures import DATABASE, MANUAL, STUDENT, TEACHER, answer, ra, ue

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
    assert len(end_plan(now=END + 1, allow_past=True).rows) == 3


def test_end_before_a_start_is_refused_naming_user_and_course():
    state = course_state()
    state.manual_enrolment(2)['timestart'] = END + 50
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
