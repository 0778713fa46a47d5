# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter keep_access_settings: the variables a course host has, so that equal sets are validated once."""

from ansible_collections.cemu.moodle.plugins.filter.keep_access_settings import FilterModule, keep_access_settings

SPEC = {'keep_access_end': {'type': 'raw'}, 'keep_access_policy': {'type': 'str'}, 'moodle_url': {'type': 'str'}}


def test_picks_the_named_variables_the_host_has():
    hostvars = {'keep_access_end': '2027-03-31', 'moodle_url': 'https://m.example.edu', 'inventory_hostname': 'KA1'}
    expected = {'keep_access_end': '2027-03-31', 'moodle_url': 'https://m.example.edu'}
    assert keep_access_settings(hostvars, SPEC) == expected
    assert keep_access_settings(hostvars, ['keep_access_end']) == {'keep_access_end': '2027-03-31'}


def test_courses_with_the_same_values_give_equal_settings():
    site = {'keep_access_end': '2027-03-31', 'keep_access_policy': 'set'}
    courses = [dict(site, inventory_hostname='C%d' % n, moodle_course=n) for n in range(5)]
    courses.append(dict(site, inventory_hostname='MED1', moodle_course=9, keep_access_end='2027-06-30'))
    distinct = []
    for settings in (keep_access_settings(course, SPEC) for course in courses):
        if settings not in distinct:
            distinct.append(settings)
    assert distinct == [site, dict(site, keep_access_end='2027-06-30')]


def test_is_a_filter_of_the_collection():
    assert FilterModule().filters()['keep_access_settings'] is keep_access_settings
