# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end-date step planned against the enrolments a restore is about to make.

Shared by moodle_set_enrol_end (check mode, option assume_enrolments) and moodle_restore_manual
(option end_dates: the end date is checked before the restore's first write, so that a date the
end-date step would refuse, e.g. before the start of an enrolment it would change, stops the course
before any student is converted).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    ACTIVE, SUSPENDED, CourseState, parse_end, plan_end_dates, resolve_timezone)

STATUS_CODES = {'active': ACTIVE, 'suspended': SUSPENDED}


def assumed_instance(state):
    """The manual instance assumed enrolments go to: the enabled one, else the one a restore would enable or add."""
    instance = state.manual_instance_after_ensure()
    if instance is None:
        return {'id': 0, 'enrol': 'manual', 'name': '', 'status': 0, 'roleid': 0, 'cohortid': 0}
    return dict(instance, status=0)


def assumed_enrolment(row, instance, state):
    current = state.manual_enrolment(row['userid'], instance) or {}
    return {'id': current.get('id', 0), 'enrolid': instance['id'], 'enrol': 'manual', 'userid': row['userid'],
            'username': row.get('username') or state.username(row['userid']),
            'status': STATUS_CODES[row.get('status', 'active')], 'timestart': row.get('timestart', 0),
            'timeend': row.get('timeend', 0), 'usersuspended': current.get('usersuspended', 0), 'userdeleted': 0}


def assumed_role_assignments(row, state):
    """Manual (component '') assignments of the row's roles that the user does not hold in any way yet."""
    held = set(state.role_shortnames(row['userid']))
    assignments = []
    for shortname in row.get('roles') or []:
        roleid = state.role_id(shortname, option='assume_enrolments')
        if shortname not in held:
            assignments.append({'id': 0, 'userid': row['userid'], 'roleid': roleid, 'roleshortname': shortname,
                                'component': '', 'itemid': 0})
    return assignments


def with_assumed_enrolments(state, rows):
    """``state`` as if the manual enrolments ``rows`` (a restore's planned_enrolments) existed."""
    instance = assumed_instance(state)
    instances = [instance] + [i for i in state.instances if i['id'] != instance['id']]
    assumed_users = set(row['userid'] for row in rows)
    enrolments = [ue for ues in state.enrolments_by_user.values() for ue in ues
                  if not (ue['enrolid'] == instance['id'] and ue['userid'] in assumed_users)]
    enrolments += [assumed_enrolment(row, instance, state) for row in rows]
    assignments = [ra for ras in state.roleassignments_by_user.values() for ra in ras]
    for row in rows:
        assignments += assumed_role_assignments(row, state)
    return CourseState(state.course, instances, enrolments, assignments, list(state.roles_by_id.values()),
                       state.timezone, inherited=state.inherited, assignable_roleids=state.assignable_roleids)


def end_in_zone(value, zone_name):
    zone = resolve_timezone(zone_name)
    return zone, parse_end(value, zone)


def plan_end_dates_after(state, options, rows=(), now=None):
    """plan_end_dates() with the moodle_set_enrol_end ``options`` (end, timezone, policy, roles, status,
    users, query, allow_past) on ``state`` with ``rows`` assumed; raises PlanError as that step would.
    Returns (plan, zone, zone name, end)."""
    if rows:
        state = with_assumed_enrolments(state, rows)
    zone_name = options.get('timezone') or state.timezone
    zone, end = end_in_zone(options['end'], zone_name)
    plan = plan_end_dates(state, end, now=int(time.time() if now is None else now),
                          policy=options.get('policy') or 'set',
                          roles=options['roles'] if options.get('roles') is not None else ['student'],
                          status=options.get('status') or 'active', users=options.get('users'),
                          query=options.get('query'), allow_past=bool(options.get('allow_past')), tz=zone)
    return plan, zone, zone_name, end
