#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: moodle_set_enrol_end
short_description: Set the end date of a Moodle course's manual enrolments
version_added: 0.1.0
description:
  - Sets the end (C(timeend)) of the course's manual enrolments selected by role, status and
    optionally users or a JMESPath query, like step 3 of the manual procedure (the Participants page
    filtered by Roles and Status, then the bulk operation "Edit selected manual enrolments").
  - The selection is the users the Participants page lists with those filters, and each selected user's
    manual enrolment gets the end, whatever its own status; see O(roles) and O(status).
  - Changes the end only; start, status and roles stay as they are, and no welcome message is sent.
  - Only enrolments of the course's first enabled manual instance are considered.
  - Refused before anything is written, with a message naming the option, course and user,
    are an end that cannot be parsed, an end before the start of an enrolment it would change, and an end
    already past unless O(allow_past=true).
author:
  - cemu.moodle contributors (@cemu-moodle)
extends_documentation_fragment:
  - cemu.moodle.connection
  - cemu.moodle.course
  - cemu.moodle.results
  - cemu.moodle.attributes
  - ansible.builtin.action_common_attributes
  - cemu.moodle.run
options:
  end:
    description:
      - The new end.
      - A date C(YYYY-MM-DD) means the end of that day, 23:59:59, in O(timezone).
      - An ISO 8601 date and time needs an offset or C(Z), for example V(2026-09-30T18:00:00+02:00).
      - Digits are a Unix time.
    type: raw
    required: true
  timezone:
    description:
      - IANA time zone a date in O(end) is read in, for example V(Europe/Berlin).
      - Default the Moodle site's time zone (as the companion plugin reports it).
    type: str
  policy:
    description:
      - V(set) gives every selected enrolment exactly O(end).
      - V(extend) only moves an end that is earlier than O(end); it never shortens a later end and never
        gives an end to an enrolment that has none.
    type: str
    choices: [set, extend]
    default: set
  roles:
    description:
      - Select users holding at least one of these roles in the course (short names), whatever gave them
        the role, including a role assigned in a parent context (the course's category or the site), as
        the Participants "Roles" filter does. An empty list selects users whatever their roles.
    type: list
    elements: str
    default: [student]
  status:
    description:
      - Select users by their participation in the course, as the Participants "Status" filter does.
      - V(active) selects users with at least one active enrolment in the course, by any method (manual,
        database, cohort, ...); an enrolment is active when it is not suspended, its enrolment method
        instance is enabled, it has started and it has not ended. So the expired manual enrolment of a
        former student who is in no other enrolment is not selected.
      - V(suspended) selects users with at least one enrolment in the course that is not active
        (suspended, in a disabled instance, not started yet or ended); a user can be both.
      - V(any) selects every user with a manual enrolment.
    type: str
    choices: [active, suspended, any]
    default: active
  users:
    description:
      - Only these users (usernames or user ids), among those selected by O(roles) and O(status).
      - A user without a manual enrolment in the course is an error.
    type: list
    elements: str
  query:
    description:
      - JMESPath expression over the selected rows that narrows the selection further; it must give a
        list of rows.
      - Each row has C(userid), C(username), C(status) (0 active, 1 suspended), C(timestart), C(timeend)
        of the manual enrolment and C(roles) (short names of the roles the user holds in the course or a
        parent context), for example V([?timeend == `0`]).
    type: str
  allow_past:
    description:
      - Accept an O(end) that is already past (access ends at once).
    type: bool
    default: false
  assume_enrolments:
    description:
      - In check mode, manual enrolments to plan against as if they existed, e.g. the C(planned_enrolments)
        returned by M(cemu.moodle.moodle_restore_manual) in check mode; ignored outside check mode.
      - Each one replaces the user's current manual enrolment (if any) in the plan, in an enabled manual
        instance; its roles are added to the roles the user holds. A course without an enabled manual
        instance is planned as if it had one. The user's other enrolments are read from Moodle, so
        O(status) selects as in the real run.
      - So that a dry run of backup, restore and end date reports the end dates the real run would set.
    type: list
    elements: dict
    suboptions:
      userid:
        description: Moodle user id.
        type: int
        required: true
      username:
        description: Username (shown in the result and the diff). Default the current one, else the user id.
        type: str
      status:
        description: Status of the assumed enrolment.
        type: str
        choices: [active, suspended]
        default: active
      timestart:
        description: Start (Unix time, 0 = none).
        type: int
        default: 0
      timeend:
        description: End (Unix time, 0 = none).
        type: int
        default: 0
      roles:
        description: Short names of the roles the user holds in the course after the restore.
        type: list
        elements: str
        default: []
attributes:
  check_mode:
    details: Plans and validates everything, writes nothing. O(assume_enrolments) plans against enrolments a
      restore run in check mode would have made.
  diff_mode:
    details:
      - "One line per changed user, for example V(student0001  active  end: none -> 2027-06-30 23:59 BST  [student]),
        with the manual enrolment's status, its end before and after, and the user's roles in the course."
      - Dates are shown in the site's time zone (as the course read reports it), whatever O(timezone) is.
      - The same per user (by username) as data, with Unix times, is returned in RV(user_changes).
notes:
  - Needs the companion plugin C(local_keepaccess) on the Moodle site and its functions in the token's service.
  - After the end passes, the manual enrolment plugin's "enrolment expiry action" decides what happens;
    by default the enrolment stays and access lapses.
seealso:
  - module: cemu.moodle.moodle_backup_enrolments
  - module: cemu.moodle.moodle_restore_manual
'''

EXAMPLES = r'''
- name: Students of KA1 keep access until the end of 30 September (site time zone)
  cemu.moodle.moodle_set_enrol_end:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1
    end: "2026-09-30"

- name: Extend, never shorten, for teachers too, in a given time zone
  cemu.moodle.moodle_set_enrol_end:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1
    end: "2026-10-31"
    timezone: Europe/Berlin
    policy: extend
    roles: [student, editingteacher]

- name: Only two users, an exact instant
  cemu.moodle.moodle_set_enrol_end:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1
    end: "2026-09-30T12:00:00Z"
    users: [student0001, "17"]

- name: Dry run of restore and end date together
  check_mode: true
  block:
    - name: Plan the restore
      cemu.moodle.moodle_restore_manual:
        moodle_url: https://moodle.example.edu
        moodle_token: "{{ vault_moodle_token }}"
        course: KA1
      register: restore
    - name: Plan the end dates as if the restore had happened
      cemu.moodle.moodle_set_enrol_end:
        moodle_url: https://moodle.example.edu
        moodle_token: "{{ vault_moodle_token }}"
        course: KA1
        end: "2026-09-30"
        assume_enrolments: "{{ restore.planned_enrolments | default(omit) }}"
'''

RETURN = r'''
end:
  description: The end as a Unix time.
  returned: success
  type: int
  sample: 1790805599
end_iso:
  description: The end in ISO 8601, in O(timezone).
  returned: success
  type: str
  sample: "2026-09-30T23:59:59+02:00"
timezone:
  description: The time zone used.
  returned: success
  type: str
  sample: Europe/Berlin
changed_users:
  description: Users whose end changes, with the end before and after (Unix time, 0 = no end).
  returned: unless O(user_lists=false)
  type: list
  elements: dict
  contains:
    userid:
      description: Moodle user id.
      type: int
    username:
      description: Username.
      type: str
    before:
      description: End before.
      type: int
    after:
      description: End after.
      type: int
  sample: [{userid: 5, username: student0001, before: 0, after: 1790805599}]
counts:
  description: Numbers of selected, changed and unchanged enrolments.
  returned: success
  type: dict
  sample: {selected: 30, changed: 30, unchanged: 0}
user_changes:
  description:
    - With C(--diff), per changed user (by username) the manual enrolment's C(status), C(timeend) (Unix time)
      and the user's C(roles) in the course, before and after.
  returned: in diff mode
  type: dict
  sample: {before: {student0001: {status: active, timeend: 0, roles: [student]}},
           after: {student0001: {status: active, timeend: 1814479199, roles: [student]}}}
'''

import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.cemu.moodle.plugins.module_utils.course_run import before_write, run_course_step
from ansible_collections.cemu.moodle.plugins.module_utils.diff_lines import site_zone, user_lines
from ansible_collections.cemu.moodle.plugins.module_utils.module_base import MoodleModule
from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    HAS_JMESPATH, JMESPATH_IMPORT_ERROR, PlanError, format_time, parse_end, plan_end_dates, resolve_timezone,
    state_with_enrolments)


def argument_spec():
    return dict(
        run_id=dict(type='str'),
        claim_wait=dict(type='int', default=0),
        end=dict(type='raw', required=True),
        timezone=dict(type='str'),
        policy=dict(type='str', default='set', choices=['set', 'extend']),
        roles=dict(type='list', elements='str', default=['student']),
        status=dict(type='str', default='active', choices=['active', 'suspended', 'any']),
        users=dict(type='list', elements='str'),
        query=dict(type='str'),
        allow_past=dict(type='bool', default=False),
        assume_enrolments=dict(type='list', elements='dict', options=dict(
            userid=dict(type='int', required=True),
            username=dict(type='str'),
            status=dict(type='str', default='active', choices=['active', 'suspended']),
            timestart=dict(type='int', default=0),
            timeend=dict(type='int', default=0),
            roles=dict(type='list', elements='str', default=[]),
        )),
    )


def end_in_zone(value, zone_name):
    zone = resolve_timezone(zone_name)
    return zone, parse_end(value, zone)


def diff_lines(diff, state):
    """--diff: one line per user, dates in the site's time zone (the course read's, whatever O(timezone) is)."""
    return user_lines(diff['before'], diff['after'], site_zone(state.timezone))


def main():
    run(MoodleModule(argument_spec()))


def run(moodle):
    """The module's work on ``moodle`` (a MoodleModule built from argument_spec()); the action plugin
    of the same name calls it in the controller's worker process."""
    params = moodle.params
    if params['query'] and not HAS_JMESPATH:
        moodle.fail_json(msg=missing_required_lib('jmespath'), exception=JMESPATH_IMPORT_ERROR)
    if params['timezone']:
        try:
            end_in_zone(params['end'], params['timezone'])  # a bad end fails before Moodle is asked
        except PlanError as err:
            moodle.fail_json(msg='%s: %s' % (moodle.course_label(), err))
    moodle.require_companion()
    run_course_step(moodle, 'enddate', lambda run: set_end_dates(moodle, run))


def set_end_dates(moodle, run):
    """Read the course, plan the end dates and write them as ``run`` (None: no run named)."""
    params = moodle.params
    try:
        _course, state = moodle.read_course_state()
        if moodle.check_mode and params['assume_enrolments']:
            state = state_with_enrolments(state, params['assume_enrolments'])
        zone_name = params['timezone'] or state.timezone
        zone, end = end_in_zone(params['end'], zone_name)
        plan = plan_end_dates(state, end, now=int(time.time()), policy=params['policy'], roles=params['roles'],
                              status=params['status'], users=params['users'], query=params['query'],
                              allow_past=params['allow_past'], tz=zone)
    except PlanError as err:
        moodle.fail_json(msg='%s: %s' % (moodle.course_label(), err))
    if state.manual_instance is None:
        moodle.module.warn('%s has no enabled manual enrolment instance: no end date to set'
                           % moodle.course_label())
    if plan.changed and not moodle.check_mode:
        before_write(run)
        with moodle.moodle_errors():
            moodle.api.apply_manual(moodle.course['id'], plan.rows, False, run=run)
    moodle.exit(plan.changed, before=plan.diff['before'], after=plan.diff['after'],
                lines=diff_lines(plan.diff, state) if moodle.diff_mode else None, end=end,
                end_iso=format_time(end, zone), timezone=zone_name, changed_users=plan.changed_users,
                counts=plan.counts())


if __name__ == '__main__':
    main()
