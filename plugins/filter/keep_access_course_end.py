# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keep_access_course_end: which end date a course gets, and why.

``keep_access_end`` is a date for every course, or ``course_end``: each course's own end date
(``enddate`` in the course settings, host variable ``moodle_course_enddate`` of the inventory
plugin), with a fallback date for courses without one and a minimum number of days ahead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible.errors import AnsibleFilterError

COURSE_END = 'course_end'
DAY = 86400


def _utc_day(unix):
    return datetime.datetime.fromtimestamp(int(unix), datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')


def keep_access_course_end(end, course_enddate=None, fallback=None, min_days=0, now=None):
    """{end, source, reason}: the value to give moodle_set_enrol_end's ``end`` and why it was chosen.

    ``source`` is ``keep_access_end`` (the same date for every course), ``course_end`` (the course's
    end date) or ``fallback``. With ``course_end``, a course whose end date is missing, or earlier than
    ``min_days`` days from ``now``, gets ``fallback``; without a fallback that is an error naming the course's date.
    """
    if end is None or str(end).strip() != COURSE_END:
        return {'end': end, 'source': 'keep_access_end', 'reason': 'keep_access_end for every course'}
    if course_enddate is None:
        raise AnsibleFilterError('keep_access_end=course_end needs the course end date (host variable '
                                 'moodle_course_enddate of the inventory plugin cemu.moodle.courses)')
    now = int(time.time() if now is None else now)
    enddate = int(course_enddate or 0)
    earliest = now + int(min_days or 0) * DAY
    if enddate and enddate >= earliest:
        return {'end': enddate, 'source': 'course_end', 'reason': 'course end date %s' % _utc_day(enddate)}
    why = ('the course has no end date' if not enddate else
           'the course end date %s is less than %d days ahead' % (_utc_day(enddate), int(min_days or 0))
           if enddate > now else 'the course end date %s is past' % _utc_day(enddate))
    if fallback in (None, ''):
        raise AnsibleFilterError('keep_access_end=course_end: %s and keep_access_end_fallback is not set' % why)
    return {'end': fallback, 'source': 'fallback', 'reason': 'keep_access_end_fallback %s: %s' % (fallback, why)}


def keep_access_course_end_problem(end, course_enddate=None, fallback=None, min_days=0, now=None):
    """Why the course cannot get an end date ('' when it can): checked before the course's first write."""
    try:
        keep_access_course_end(end, course_enddate, fallback, min_days, now)
    except AnsibleFilterError as err:
        return str(err.message)
    return ''


class FilterModule(object):
    """keep_access end date filters."""

    def filters(self):
        return {'keep_access_course_end': keep_access_course_end,
                'keep_access_course_end_problem': keep_access_course_end_problem}
