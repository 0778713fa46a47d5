# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a person reads with --diff: one line per user, dates in the site's time zone.

The modules return ``diff: {prepared: <these lines>}``, which Ansible's callbacks print as they are;
the structured before/after per user stays in the result under ``user_changes`` for tools.

    student0001  active  end: none -> 2027-06-30 23:59 BST  [student]
    student0002  new  active  end: none  [+student]
    teacher01    active  end: none  [editingteacher, +teacher]
    student0003  removed  was active, end: 2027-06-30 23:59 BST  [-student]

The time zone is the site's, as the course read reports it (``timezone`` of
local_keepaccess_get_course_enrolments: Moodle's core_date::get_server_timezone(), the same value
local_keepaccess_get_site_settings and moodle_site_check give).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 on a managed host
    zoneinfo = None

NO_TIME = 'none'


def site_zone(name):
    """The tzinfo of the site's time zone ``name``; UTC when this Python cannot resolve it (a display only)."""
    try:
        return zoneinfo.ZoneInfo(name or 'UTC')
    except Exception:  # pylint: disable=broad-except
        return datetime.timezone.utc


def describe_time(unix, zone):
    """``2027-06-30 23:59 BST`` in ``zone`` (a tzinfo), ``none`` for 0 (no start, no end)."""
    if not unix:
        return NO_TIME
    return datetime.datetime.fromtimestamp(int(unix), zone).strftime('%Y-%m-%d %H:%M %Z').rstrip()


def _change(before, after, describe):
    return describe(after) if before == after else '%s -> %s' % (describe(before), describe(after))


def _roles(before, after):
    """Roles after, with ``+`` on those added, then ``-`` on those removed."""
    before, after = set(before or ()), set(after or ())
    names = ['+' + r if r not in before else r for r in sorted(after)]
    names += ['-' + r for r in sorted(before - after)]
    return '[%s]' % ', '.join(names)


def user_line(username, before, after, zone, width=0):
    """One user's line. ``before``/``after``: the manual enrolment as ``{status, timestart, timeend, roles}``
    (any of them may be left out), None for no manual enrolment."""
    parts = [username.ljust(width)]
    if after is None:
        return '  '.join(parts + _removed(before or {}, zone))
    new = before is None
    if new:  # a new enrolment: its values alone, every role added
        parts.append('new')
        before = dict(after, roles=())
    if 'status' in after:
        parts.append(_change(before.get('status', after['status']), after['status'], str))
    start = after.get('timestart', 0)
    if start != before.get('timestart', start) or (new and start):
        parts.append('start: ' + _change(before.get('timestart', start), start, _shown(zone)))
    if 'timeend' in after:
        parts.append('end: ' + _change(before.get('timeend', after['timeend']), after['timeend'], _shown(zone)))
    if 'roles' in after:
        parts.append(_roles(before.get('roles', after['roles']), after['roles']))
    return '  '.join(parts)


def _shown(zone):
    def shown(unix):
        return describe_time(unix, zone)
    return shown


def _removed(before, zone):
    was = [before['status']] if 'status' in before else []
    was.append('end: ' + describe_time(before.get('timeend', 0), zone))
    return ['removed', 'was ' + ', '.join(was), _roles(before.get('roles'), ())]


def user_lines(before, after, zone):
    """Lines of a per-user diff ``{username: view}`` before and after; users in the order of ``after``, then
    the users only ``before`` has (removed)."""
    names = list(after) + sorted(name for name in before if name not in after)
    width = max([len(name) for name in names] or [0])
    return [user_line(name, before.get(name), after.get(name), zone, width) for name in names]


def prepared_diff(lines, before, after):
    """``diff`` and ``user_changes`` for a module result: the lines for people, the structure for tools."""
    return {'diff': {'prepared': '\n'.join(lines)}, 'user_changes': {'before': before, 'after': after}}
