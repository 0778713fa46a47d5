# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keep_access_end=course_end: each course's end date from Moodle, a fallback, a minimum margin."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.cemu.moodle.plugins.filter.keep_access_course_end import keep_access_course_end

NOW = 1796083200                 # 2026-12-01T00:00:00Z
JUNE = 1814313600                # 2027-06-30T00:00:00Z
DAY = 86400


def test_a_date_is_used_for_every_course():
    assert keep_access_course_end('2027-03-31', course_enddate=JUNE) == {
        'end': '2027-03-31', 'source': 'keep_access_end', 'reason': 'keep_access_end for every course'}


def test_course_end_is_the_courses_own_end_date():
    choice = keep_access_course_end('course_end', course_enddate=JUNE, now=NOW)
    assert (choice['end'], choice['source'], choice['reason']) == (JUNE, 'course_end', 'course end date 2027-06-30 00:00 UTC')


@pytest.mark.parametrize('enddate,why', [
    (0, 'the course has no end date'),
    (NOW - DAY, 'the course end date 2026-11-30 00:00 UTC is past'),
    (NOW + 10 * DAY, 'the course end date 2026-12-11 00:00 UTC is less than 30 days ahead'),
])
def test_a_course_without_a_usable_end_date_gets_the_fallback_and_says_why(enddate, why):
    choice = keep_access_course_end('course_end', course_enddate=enddate, fallback='2027-09-30', min_days=30, now=NOW)
    assert (choice['end'], choice['source']) == ('2027-09-30', 'fallback')
    assert choice['reason'] == 'keep_access_end_fallback 2027-09-30: ' + why


def test_without_a_fallback_such_a_course_is_an_error_naming_its_date():
    with pytest.raises(AnsibleFilterError, match='2026-11-30 00:00 UTC is past and keep_access_end_fallback is not set'):
        keep_access_course_end('course_end', course_enddate=NOW - DAY, now=NOW)


def test_course_end_needs_the_inventory_plugins_variable():
    with pytest.raises(AnsibleFilterError, match='moodle_course_enddate'):
        keep_access_course_end('course_end', course_enddate=None)


def test_the_problem_is_known_before_any_write():
    from ansible_collections.cemu.moodle.plugins.filter.keep_access_course_end import keep_access_course_end_problem
    assert keep_access_course_end_problem('course_end', 0, now=NOW) == \
        'keep_access_end=course_end: the course has no end date and keep_access_end_fallback is not set'
    assert keep_access_course_end_problem('course_end', JUNE, now=NOW) == ''
    assert keep_access_course_end_problem('2027-06-30') == ''
