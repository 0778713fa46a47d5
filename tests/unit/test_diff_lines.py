# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The --diff lines a person reads: one per user, dates in the site's time zone."""

import datetime

from ansible_collections.cemu.moodle.plugins.module_utils.diff_lines import (
    describe_time, prepared_diff, site_zone, user_lines)

LONDON = site_zone('Europe/London')
END = 1814396399          # 2027-06-30 23:59:59 BST


def test_the_issues_example_line():
    before = {'student0001': {'status': 'active', 'timeend': 0, 'roles': ['student']}}
    after = {'student0001': {'status': 'active', 'timeend': END, 'roles': ['student']}}
    assert user_lines(before, after, LONDON) == ['student0001  active  end: none -> 2027-06-30 23:59 BST  [student]']


def test_new_changed_and_removed_users_each_get_one_aligned_line():
    before = {'ann': {'status': 'suspended', 'timestart': 0, 'timeend': END, 'roles': ['student']},
              'gone': {'status': 'active', 'timestart': 0, 'timeend': 0, 'roles': ['student', 'teacher']}}
    after = {'ann': {'status': 'active', 'timestart': 0, 'timeend': 0, 'roles': ['student', 'teacher']},
             'bob01': {'status': 'active', 'timestart': 0, 'timeend': 0, 'roles': ['student']}}
    assert user_lines(before, after, LONDON) == [
        'ann    suspended -> active  end: 2027-06-30 23:59 BST -> none  [student, +teacher]',
        'bob01  new  active  end: none  [+student]',
        'gone   removed  was active, end: none  [-student, -teacher]']


def test_a_role_taken_back_keeps_the_enrolment_line():
    view = {'status': 'active', 'timestart': 0, 'timeend': 0}
    lines = user_lines({'ann': dict(view, roles=['student', 'teacher'])}, {'ann': dict(view, roles=['student'])},
                       LONDON)
    assert lines == ['ann  active  end: none  [student, -teacher]']


def test_winter_dates_and_an_unknown_zone():
    assert describe_time(1798761599, LONDON) == '2026-12-31 23:59 GMT'
    assert describe_time(0, LONDON) == 'none'
    assert site_zone('Not/AZone') == datetime.timezone.utc


def test_the_result_keeps_the_data_for_tools_and_gives_ansible_the_lines():
    result = prepared_diff(['a', 'b'], {'x': 1}, {'x': 2})
    assert result == {'diff': {'prepared': 'a\nb'}, 'user_changes': {'before': {'x': 1}, 'after': {'x': 2}}}
