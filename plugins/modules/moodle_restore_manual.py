#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: moodle_restore_manual
short_description: Give every user of an enrolment backup a manual enrolment in the Moodle course
version_added: 0.1.0
description:
  - Reads a backup written by M(cemu.moodle.moodle_backup_enrolments) and makes every user in it
    hold a manual enrolment and manual copies of their roles, with the rules of Moodle's course
    restore with "restore users as manual enrolments" (merging into the same course), so that users
    keep access when the external database or cohort sync drops them.
  - Each user's backed-up rows are merged one after the other, in the order of their enrolment instances
    in the backup (the course's order), exactly as Moodle's enrol_manual C(restore_user_enrolment) does.
  - A row meeting no manual enrolment, or one this restore created suspended, writes its own start, end
    and status; a row of an enrolment instance that was disabled writes the status suspended.
  - A row meeting an active manual enrolment changes it only when the row is active and it starts later,
    has no end while the manual enrolment has one, or ends earlier; the manual enrolment then gets the
    earliest start and the latest end (no end beating any date). Otherwise (a suspended row, or an active
    row that only starts earlier or only ends later) nothing changes, as in Moodle.
  - Unlike Moodle's restore, a manual enrolment that is already suspended stays suspended (someone
    suspended it on purpose); such users are returned in RV(kept_suspended).
  - Unlike Moodle's restore, a manual enrolment that an earlier run of this module (from any backup of
    the course) already restored is not merged again, so an end date set since, for example by
    M(cemu.moodle.moodle_set_enrol_end), stays; only missing role copies are added. This keeps
    backup, restore and set end idempotent when run again.
  - Every role the user held in the course through the backed-up enrolments (filtered by O(roles)) is
    also held as a manual role assignment (component empty, item id 0), found by its short name like
    Moodle's restore does.
  - A role the token's user may not assign in the course (Define roles > Allow role assignments), or that
    no longer exists, is skipped for that user only and returned in RV(skipped_users) with the role; the user's
    enrolment is converted anyway and the course does not fail. Moodle's restore skips such roles the same
    way for the user who runs it.
  - Users whose account is now deleted are skipped and returned in RV(skipped_users). Users the source has
    dropped since the backup are restored from the backup.
  - Unlike Moodle's restore, no enrolment sync runs, no other enrolment is touched and no welcome
    message is sent unless O(send_welcome=true).
  - Writes go in as few calls as the batch limit allows; every call is one transaction on the server.
  - O(state=absent) undoes a restore of the backup; see O(state).
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
  backup_file:
    description:
      - Backup to restore.
      - Default with O(state=present) the newest backup of the course in O(backup_dir); with
        O(state=absent) the newest backup of the course that has a restore record (with Moodle's history,
        every restore record of the course is taken in; a given O(backup_file) limits the controller's
        records to that backup's, Moodle's history is used whole).
      - A backup of another course or site, or a damaged file, is refused before anything is written.
    type: path
  backup_dir:
    description:
      - Directory that holds the backups and restore records, on the host that runs the module.
    type: path
    default: ~/.local/share/cemu.moodle/backups
  roles:
    description:
      - Role short names to restore. A user is restored when at least one of their backed-up roles is
        in the list, and gets manual copies of those roles only.
      - Default (not set or empty) restores every user with every backed-up role.
      - Only with O(state=present); O(state=absent) refuses it.
    type: list
    elements: str
  query:
    description:
      - JMESPath expression over the backup's C(enrolments) list that selects the rows to restore;
        it must give a list of rows.
      - Each row has C(userid), C(username), C(enrol), C(instanceid), C(status) (0 active, 1 suspended),
        C(timestart), C(timeend) and C(roles) (list of C(roleid), C(shortname), C(component), C(itemid)).
      - For example V([?enrol == 'cohort']) or V([?status == `0`]).
      - Only with O(state=present); O(state=absent) refuses it.
    type: str
  create_manual_instance:
    description:
      - When the course has no enabled manual enrolment instance, create one (welcome message off) or
        enable the first disabled one. Without it such a course fails with a message saying so.
      - Only with O(state=present); O(state=absent) refuses V(true).
    type: bool
    default: false
  send_welcome:
    description:
      - Send the course welcome message to users whose manual enrolment is created, when the manual
        instance's welcome setting is on. Moodle's own restore sends it to every restored user.
      - Only with O(state=present); O(state=absent) refuses V(true).
    type: bool
    default: false
  end_date:
    description:
      - Also set the end date that M(cemu.moodle.moodle_set_enrol_end) with these options would set right after
        this restore, on the manual enrolments this restore creates or changes, in the same write (one write
        per user instead of two).
      - The users are chosen by that module's own selection (O(end_date.roles), O(end_date.status) as the
        Participants page's filters, O(end_date.users), O(end_date.query)) on the course as the restore leaves
        it, and each gets the end O(end_date.policy) gives. The outcome per user (status, start, end, roles) is
        exactly that of the restore followed by M(cemu.moodle.moodle_set_enrol_end) with the same options.
      - Selected users whose manual enrolment this restore does not write (nothing to convert) are left alone;
        run M(cemu.moodle.moodle_set_enrol_end) with the same options after it for them (the role
        C(cemu.moodle.keep_access) does). It then finds nothing left to change for the users done here.
      - That module's refusals (an end that cannot be parsed, already past without O(end_date.allow_past),
        before the start of an enrolment it would change) stop the restore before anything is written.
      - Only with O(state=present); O(state=absent) refuses it.
    type: dict
    suboptions:
      end:
        description:
          - The end, as O(cemu.moodle.moodle_set_enrol_end#module:end) (a date C(YYYY-MM-DD) is 23:59:59 that
            day in O(end_date.timezone), an ISO date and time with offset, or a Unix time).
        type: raw
        required: true
      timezone:
        description: Time zone of a date in O(end_date.end). Default the Moodle site's time zone.
        type: str
      policy:
        description: As O(cemu.moodle.moodle_set_enrol_end#module:policy).
        type: str
        choices: [set, extend]
        default: set
      roles:
        description: As O(cemu.moodle.moodle_set_enrol_end#module:roles).
        type: list
        elements: str
        default: [student]
      status:
        description: As O(cemu.moodle.moodle_set_enrol_end#module:status).
        type: str
        choices: [active, suspended, any]
        default: active
      users:
        description: As O(cemu.moodle.moodle_set_enrol_end#module:users).
        type: list
        elements: str
      query:
        description: As O(cemu.moodle.moodle_set_enrol_end#module:query).
        type: str
      allow_past:
        description: As O(cemu.moodle.moodle_set_enrol_end#module:allow_past).
        type: bool
        default: false
  state:
    description:
      - V(present) restores the backup.
      - V(absent) undoes what the conversion and the end-date step did to the course, from any controller.
        With the companion plugin 2026120110 or later, what to undo comes from the history Moodle keeps
        (every run since the last undo), merged with the restore records kept next to the backups on this
        controller (C(restores/<backup file name>)), where Moodle's history wins; an empty O(backup_dir)
        (a fresh AWX container) is enough. With an older plugin, only the restore record of the backup is used.
      - It removes the manual enrolments the runs created and the manual role assignments they added, and puts
        back the status, start and end of a manual enrolment that existed before (an end date set on it by
        M(cemu.moodle.moodle_set_enrol_end) included).
      - A field someone changed since (its value is not the one the runs left) is left alone and returned in
        RV(left_alone); a created enrolment with such a field stays, with its roles.
      - The undo is recorded in Moodle's history (step C(revert)), so that a second undo changes nothing and a
        later O(state=present) converts again. The restore records used are deleted.
      - An undo always takes back the whole record, so O(state=absent) refuses the options that shape a
        restore (O(roles), O(query), O(create_manual_instance), O(send_welcome), O(end_date)) before anything is read
        or written, rather than ignore them.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    details:
      - Plans everything, writes nothing to Moodle or the backup directory.
      - When the course has no backup in O(backup_dir) yet and O(backup_file) is not set (a first run of
        M(cemu.moodle.moodle_backup_enrolments) then this module, both in check mode, so that the backup was not
        written), the restore is planned from the course itself, from the backup
        M(cemu.moodle.moodle_backup_enrolments) would write now with its default methods (V(database) and
        V(cohort)), and RV(backup_file) is null. Outside check mode a missing backup is an error.
  diff_mode:
    details:
      - "One line per changed user, for example V(student0001  new  active  end: none  [+student]) or
        V(student0002  active  end: 2027-01-31 23:59 GMT -> none  [student]), with the manual enrolment's status,
        start (when it changes) and end before and after, and the user's manual roles (V(+) added, V(-) removed)."
      - Dates are shown in the site's time zone, as the course read reports it.
      - The same per user (by username) as data, with Unix times, is returned in RV(user_changes).
notes:
  - Needs the companion plugin C(local_keepaccess) on the Moodle site and its functions in the token's service.
  - A restore record is written before Moodle is changed and again after, so a run that was killed
    can be finished by running again, and still undone with O(state=absent).
seealso:
  - module: cemu.moodle.moodle_backup_enrolments
  - module: cemu.moodle.moodle_set_enrol_end
'''

EXAMPLES = r'''
- name: Restore the newest backup of KA1 as manual enrolments
  cemu.moodle.moodle_restore_manual:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1

- name: Restore only students that came from the cohort, creating a manual instance if needed
  cemu.moodle.moodle_restore_manual:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1
    roles: [student]
    query: "[?enrol == 'cohort']"
    create_manual_instance: true

- name: Restore KA1 and give the students it converts their end date in the same write
  cemu.moodle.moodle_restore_manual:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1
    end_date:
      end: "2027-03-31"

- name: Undo the conversion and the end dates of KA1, from any controller
  cemu.moodle.moodle_restore_manual:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1
    state: absent
'''

RETURN = r'''
backup_file:
  description:
    - The backup restored (or undone); null when O(state=absent) found no restore record.
    - Null in check mode when the course had no backup yet and the restore was planned from the course itself
      (see the check mode attribute).
  returned: success
  type: str
  sample: /home/ops/.local/share/cemu.moodle/backups/moodle.example.edu/course-2/enrolments-20260820T100000.123456Z.json
manual_instance_id:
  description: Id of the manual enrolment instance written to (null in check mode when it would be created).
  returned: success
  type: int
  sample: 10
created:
  description: Users whose manual enrolment is (or would be) created.
  returned: O(state=present), unless O(user_lists=false)
  type: list
  elements: dict
  contains:
    userid:
      description: Moodle user id.
      type: int
    username:
      description: Username.
      type: str
  sample: [{userid: 5, username: student0001}]
updated:
  description: Users whose active manual enrolment or manual roles change.
  returned: O(state=present), unless O(user_lists=false)
  type: list
  elements: dict
  sample: []
unchanged:
  description: Users who already hold everything the backup gives them.
  returned: O(state=present), unless O(user_lists=false)
  type: list
  elements: dict
  sample: []
skipped_users:
  description:
    - Users not restored, with the reason C(deleted) (the account is deleted).
    - And role copies not given, one entry per user and role, with the reason C(role_not_assignable) (the
      token's user may not assign the role in the course) or C(role_missing) (no role with that short name
      exists any more) and the role's short name in C(role); the user is still restored.
  returned: O(state=present)
  type: list
  elements: dict
  contains:
    userid:
      description: Moodle user id.
      type: int
    username:
      description: Username from the backup.
      type: str
    reason:
      description: Why the user or the role was skipped.
      type: str
    role:
      description: Short name of the role not given (only for the reasons C(role_not_assignable) and C(role_missing)).
      type: str
  sample: [{userid: 9, username: student0009, reason: deleted},
           {userid: 12, username: manager01, reason: role_not_assignable, role: manager}]
kept_suspended:
  description: Users whose manual enrolment is suspended and stays so (their role copies are still added).
  returned: O(state=present)
  type: list
  elements: dict
  sample: [{userid: 7, username: student0007}]
roles_assigned:
  description: Number of manual role assignments added.
  returned: O(state=present)
  type: int
  sample: 31
counts:
  description:
    - Number of users per outcome, of role copies skipped (C(roles_skipped)) and of end dates set with
      O(end_date) (C(end_dates_set)).
    - With O(state=absent), C(removed), C(reverted), C(roles_unassigned) and C(left_alone) (fields).
  returned: success
  type: dict
  sample: {created: 30, updated: 1, unchanged: 0, skipped: 1, roles_skipped: 1, kept_suspended: 1, end_dates_set: 30}
restore_record:
  description:
    - Path of the restore record (O(state=present)), or of the newest record used and deleted (O(state=absent)).
    - Null when nothing was or would be written.
  returned: success
  type: str
removed:
  description: Users whose manual enrolment the undo removes.
  returned: O(state=absent), unless O(user_lists=false)
  type: list
  elements: dict
  sample: [{userid: 5, username: student0001}]
reverted:
  description: Users whose earlier manual enrolment gets its start, end or status back.
  returned: O(state=absent), unless O(user_lists=false)
  type: list
  elements: dict
  sample: []
roles_unassigned:
  description: Number of manual role assignments removed by the undo.
  returned: O(state=absent)
  type: int
  sample: 31
course:
  description: The course undone (id, shortname, idnumber, fullname), as the run report names it.
  returned: O(state=absent)
  type: dict
  sample: {id: 2, shortname: KA1, idnumber: KA-2026-1, fullname: Keep access 1}
left_alone:
  description:
    - Fields the undo leaves as they are because someone changed them since the runs (the current value is
      not the one the runs left), one entry per user and field.
    - C(field) is C(status), C(timestart), C(timeend), or C(enrolment) for an enrolment from before that was
      removed since (C(expected) V(present), C(found) V(absent)).
  returned: O(state=absent)
  type: list
  elements: dict
  contains:
    userid:
      description: Moodle user id.
      type: int
    username:
      description: Username.
      type: str
    field:
      description: The field left alone.
      type: str
    expected:
      description: The value the runs left (Unix time or status 0/1).
      type: raw
    found:
      description: The value now in Moodle.
      type: raw
  sample: [{userid: 46, username: student0002, field: timeend, expected: 1814399999, found: 1830297599}]
end_dates_set:
  description:
    - With O(end_date), the users whose end this restore sets in the same write, with the end before (as the
      restore alone would leave it) and after (Unix time, 0 = no end), as
      RV(cemu.moodle.moodle_set_enrol_end#module:changed_users) would list them.
  returned: with O(end_date) and O(state=present), unless O(user_lists=false)
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
      description: End as the restore alone would leave it.
      type: int
    after:
      description: End written.
      type: int
  sample: [{userid: 5, username: student0001, before: 0, after: 1790805599}]
end:
  description: O(end_date.end) as a Unix time.
  returned: with O(end_date) and O(state=present)
  type: int
  sample: 1790805599
end_iso:
  description: O(end_date.end) in ISO 8601, in the time zone used.
  returned: with O(end_date) and O(state=present)
  type: str
  sample: "2026-09-30T23:59:59+02:00"
timezone:
  description: The time zone O(end_date.end) was read in.
  returned: with O(end_date) and O(state=present)
  type: str
  sample: Europe/Berlin
planned_enrolments:
  description:
    - Every user the restore plans for (created, updated, unchanged and kept suspended, not skipped) with
      their manual enrolment and roles in the course as the restore would leave them, sorted by user id.
    - Lets a dry run plan what comes after the restore, for example
      M(cemu.moodle.moodle_set_enrol_end) with O(cemu.moodle.moodle_set_enrol_end#module:assume_enrolments).
  returned: in check mode, with O(state=present)
  type: list
  elements: dict
  contains:
    userid:
      description: Moodle user id.
      type: int
    username:
      description: Username.
      type: str
    status:
      description: C(active) or C(suspended).
      type: str
    timestart:
      description: Start of the manual enrolment (Unix time, 0 = none).
      type: int
    timeend:
      description: End of the manual enrolment (Unix time, 0 = none).
      type: int
    roles:
      description: Short names of every role the user holds in the course after the restore, whatever gave it.
      type: list
      elements: str
  sample: [{userid: 5, username: student0001, status: active, timestart: 0, timeend: 0, roles: [student]}]
user_changes:
  description:
    - With C(--diff), per changed user (by username) the manual enrolment (C(status), C(timestart), C(timeend)
      as Unix times) and manual C(roles) before and after; a user without a manual enrolment before (or after,
      for O(state=absent)) is missing from C(before) (or C(after)).
  returned: in diff mode
  type: dict
  sample: {before: {}, after: {student0001: {status: active, timestart: 0, timeend: 0, roles: [student]}}}
'''

import re
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.cemu.moodle.plugins.module_utils.backup_store import (
    DEFAULT_BACKUP_DIR, DEFAULT_METHODS, BackupError, BackupStore, merge_record, normalize_url, record_would_change)
from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleError
from ansible_collections.cemu.moodle.plugins.module_utils.course_run import (
    before_write, history_settled_users, run_course_step)
from ansible_collections.cemu.moodle.plugins.module_utils.diff_lines import site_zone, user_lines
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import REVERT_PLUGIN_VERSION
from ansible_collections.cemu.moodle.plugins.module_utils.module_base import MoodleModule
from ansible_collections.cemu.moodle.plugins.module_utils.moodle_history import merge_undo_records, undo_record
from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    HAS_JMESPATH, JMESPATH_IMPORT_ERROR, PlanError, backup_from_state, format_time, parse_end, plan_restore,
    plan_undo, resolve_timezone, restored_enrolments)

DELETED_USER_CODES = ('deleteduser', 'unknownuser', 'invalidrecordunknown', 'userdeleted')
# options that shape a restore; an undo takes back the whole record and refuses them
RESTORE_ONLY_OPTIONS = ('roles', 'query', 'create_manual_instance', 'send_welcome', 'end_date')
USER_ID_IN_MESSAGE = re.compile(r'\buser\s+(?:id\s+)?(\d+)', re.IGNORECASE)
ROLE_ID_IN_MESSAGE = re.compile(r'\brole\s+id\s+(\d+)', re.IGNORECASE)


def argument_spec():
    return dict(
        run_id=dict(type='str'),
        claim_wait=dict(type='int', default=0),
        backup_file=dict(type='path'),
        backup_dir=dict(type='path', default=DEFAULT_BACKUP_DIR),
        roles=dict(type='list', elements='str'),
        query=dict(type='str'),
        create_manual_instance=dict(type='bool', default=False),
        send_welcome=dict(type='bool', default=False),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        end_date=dict(type='dict', options=dict(
            end=dict(type='raw', required=True),
            timezone=dict(type='str'),
            policy=dict(type='str', default='set', choices=['set', 'extend']),
            roles=dict(type='list', elements='str', default=['student']),
            status=dict(type='str', default='active', choices=['active', 'suspended', 'any']),
            users=dict(type='list', elements='str'),
            query=dict(type='str'),
            allow_past=dict(type='bool', default=False),
        )),
    )


def end_date_options(options, state, now):
    """plan_end_dates()'s options from the option end_date (None when not set), and the end's time zone."""
    if not options:
        return None, None
    zone_name = options['timezone'] or state.timezone
    try:
        zone = resolve_timezone(zone_name)
        end = parse_end(options['end'], zone)
    except PlanError as err:
        raise PlanError('end_date: %s' % err, option='end_date')
    return dict(end=end, now=now, policy=options['policy'], roles=options['roles'], status=options['status'],
                users=options['users'], query=options['query'], allow_past=options['allow_past'], tz=zone), zone_name


def refuse_restore_options_for_undo(moodle):
    """state=absent with an option that only shapes a restore fails before Moodle is asked anything."""
    if moodle.params['state'] != 'absent':
        return
    given = [name for name in RESTORE_ONLY_OPTIONS if moodle.params[name]]
    if given:
        moodle.fail_json(msg='%s: state=absent undoes the whole restore record of the backup and takes no %s; '
                             'remove %s from the task (they apply to state=present only)'
                         % (moodle.course_label(), ', '.join(given), 'it' if len(given) == 1 else 'them'))


def chosen_backup(moodle, store):
    """The backup file to work on, checked to be this course's; None only for an undo with no record."""
    path = moodle.params['backup_file']
    if path is None:
        path = store.newest() if moodle.params['state'] == 'present' else store.newest_restored()
    if path is None and moodle.params['state'] == 'present' and moodle.check_mode:
        return None, None    # planned from the course itself (backup_of_the_course)
    if path is None and moodle.params['state'] == 'present':
        moodle.fail_json(msg='%s: no backup in %s; run cemu.moodle.moodle_backup_enrolments first'
                         % (moodle.course_label(), store.course_dir))
    if path is None:
        return None, None
    try:
        return path, store.load_backup(path)
    except BackupError as err:
        moodle.fail_json(msg='%s: %s' % (moodle.course_label(), err))


def backup_of_the_course(moodle, state):
    """Check mode without any backup yet (the backup task before this one, in check mode too, wrote none):
    the backup moodle_backup_enrolments would write now, with its default methods."""
    return backup_from_state(state, list(DEFAULT_METHODS), {'url': normalize_url(moodle.client.url)},
                             time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))


def manual_instance(moodle, state):
    """(instance to plan against, its id or None, whether one must be created or enabled)."""
    if state.manual_instance is not None:
        return state.manual_instance, state.manual_instance['id'], False
    if not moodle.params['create_manual_instance']:
        moodle.fail_json(msg='%s has no enabled manual enrolment instance; enable or add one in Moodle, '
                             'or set create_manual_instance: true' % moodle.course_label())
    instance = state.manual_instance_after_ensure()
    return instance, (instance['id'] if instance else None), True


def ensure_manual_instance(moodle):
    with moodle.moodle_errors():
        return int(moodle.api.ensure_manual_instance(moodle.course['id'], enable=True)['instanceid'])


def deleted_user_in(err, plan):
    """The planned user Moodle refused as deleted or unknown, or None."""
    if err.errorcode not in DELETED_USER_CODES:
        return None
    planned = set(row['userid'] for row in plan.rows)
    found = set(int(n) for n in USER_ID_IN_MESSAGE.findall(' '.join([err.message or '', err.debuginfo or ''])))
    found &= planned
    return found.pop() if len(found) == 1 else None


def refused_role_in(err, plan):
    """The planned role a companion plugin older than 2026120100 refused (cannotassignrole), or None."""
    if err.errorcode != 'cannotassignrole':
        return None
    match = ROLE_ID_IN_MESSAGE.search(' '.join([err.message or '', err.debuginfo or '']))
    planned = set(roleid for row in plan.rows for roleid in row.get('roleids', ()))
    return int(match.group(1)) if match and int(match.group(1)) in planned else None


def apply_plan(moodle, plan, replan, run=None):
    """Send the plan's rows; return the plan that was applied.

    A user Moodle says is deleted, or a role an older companion plugin refuses for the whole call
    (nothing was written: one transaction), is left out by planning again (``replan(deleted, refused)``)
    and the rest is sent again. Roles the plugin skipped row by row are taken into the plan.
    """
    deleted, refused = set(), set()
    while plan.rows:
        try:
            answers = moodle.api.apply_manual(moodle.course['id'], plan.rows, moodle.params['send_welcome'], run=run)
        except MoodleError as err:
            userid, roleid = deleted_user_in(err, plan), refused_role_in(err, plan)
            if userid is None and roleid is None:
                raise
            deleted.update([userid] if userid is not None else [])
            refused.update([roleid] if roleid is not None else [])
            plan = replan(deleted, refused)
            continue
        plan.take_rolesskipped(answers)
        break
    return plan


def course_restore_history(store):
    """All restore records of the course merged: who was restored (settled) or found deleted."""
    known = merge_record(None, {})
    for record in store.all_records():
        known = merge_record(known, record)
    return known


def restore(moodle, store, path, backup, state, run=None):
    params = moodle.params
    instance, instance_id, must_ensure = manual_instance(moodle, state)
    earlier = store.load_record(path) if path else None
    known = course_restore_history(store)
    # who earlier restores settled: this controller's records and Moodle's history (any controller)
    settled = set(known['settled_users']) | set(history_settled_users(moodle))
    end_dates, zone_name = end_date_options(params['end_date'], state, int(time.time()))

    def make_plan(deleted=(), refused=()):
        return plan_restore(backup, state, roles=params['roles'], query=params['query'], manual_instance=instance,
                            settled=settled, deleted=set(known['deleted_users']) | set(deleted),
                            refused_roles=refused, end_dates=end_dates)

    try:
        plan = make_plan()
    except PlanError as err:        # the first plan: nothing was written yet
        raise PlanError('%s; nothing was restored' % err)
    record_path = None
    if not moodle.check_mode:
        if must_ensure or plan.changed:
            before_write(run)
        if must_ensure:
            instance_id = ensure_manual_instance(moodle)
        if plan.changed:
            store.save_record(path, plan.record_changes(), earlier=earlier)
            with moodle.moodle_errors():
                plan = apply_plan(moodle, plan, make_plan, run)
    settles = plan.changed or record_would_change(known, plan.record_changes(applied=True))
    if settles and not moodle.check_mode:
        record_path = store.save_record(path, plan.record_changes(applied=True), earlier=earlier)
    if run is not None:
        # Moodle's history is the record: the controller's copy of it is no change of the course
        settles = plan.changed
    diff = plan.diff if moodle.diff_mode else {'before': None, 'after': None}
    result = {'planned_enrolments': restored_enrolments(plan, state, instance)} if moodle.check_mode else {}
    if end_dates is not None:
        result.update(end=end_dates['end'], end_iso=format_time(end_dates['end'], end_dates['tz']),
                      timezone=zone_name, end_dates_set=plan.end_dates_set)
    moodle.exit(must_ensure or settles, before=diff['before'], after=diff['after'], lines=diff_lines(moodle, diff, state),
                backup_file=path, manual_instance_id=instance_id, created=plan.created, updated=plan.updated,
                unchanged=plan.unchanged, skipped_users=plan.skipped + plan.roles_skipped,
                kept_suspended=plan.kept_suspended, roles_assigned=len(plan.assigned_roles), counts=plan.counts(),
                restore_record=record_path, **result)


def undo(moodle, store, path, state, run=None):
    """Undo the conversion: from Moodle's history (any controller) merged with this controller's records."""
    backups = undone_backups(moodle, store, path, run)
    controller_records = [store.load_record(backup) for backup in backups]
    record = merge_undo_records(history_undo_record(moodle, run), *controller_records)
    plan = plan_undo(record, state)
    if not moodle.check_mode:
        if plan.changed or backups:
            before_write(run)
        with moodle.moodle_errors():
            write_undo(moodle, plan, state, run)
        for backup in backups:
            store.remove_record(backup)
    # with Moodle's history, the controller's copies are no change of the course
    changed = plan.changed or (run is None and bool(backups))
    result = {}
    if not changed and not plan.left_alone:
        result['msg'] = 'nothing to undo in %s' % moodle.course_label()
    moodle.exit(changed, before=plan.diff['before'], after=plan.diff['after'],
                lines=diff_lines(moodle, plan.diff, state), backup_file=path,
                manual_instance_id=_instance_id(state), removed=plan.removed, reverted=plan.reverted,
                roles_unassigned=plan.roles_unassigned, left_alone=plan.left_alone, counts=plan.counts(),
                course=dict((key, moodle.course.get(key)) for key in ('id', 'shortname', 'idnumber', 'fullname')),
                restore_record=store.record_path(backups[-1]) if backups else None, **result)


def undone_backups(moodle, store, path, run):
    """The backups whose controller restore records the undo takes in (and then deletes).

    A given ``backup_file``: its record only. Otherwise, with Moodle's history (which covers the
    whole course), every record of the course; without it, the newest (``path``).
    """
    if moodle.params['backup_file'] or run is None:
        return [path] if path and store.load_record(path) is not None else []
    return store.restored_backups()


def history_undo_record(moodle, run):
    """What the runs since the last revert changed, from Moodle's history; empty without history."""
    if run is None:
        return {}
    with moodle.moodle_errors():
        return undo_record(moodle.api.read_course_history(moodle.course['id']))


def write_undo(moodle, plan, state, run):
    """One write per user with plugin 2026120130 and later; before it, removals then fields put back."""
    courseid = moodle.course['id']
    if state.plugin_version >= REVERT_PLUGIN_VERSION:
        moodle.api.remove_manual(courseid, plan.rows, run=run, put_back=True)
        return
    if plan.remove_rows:
        moodle.api.remove_manual(courseid, plan.remove_rows, run=run)
    if plan.revert_rows:
        moodle.api.apply_manual(courseid, plan.revert_rows, False, run=run)


def diff_lines(moodle, diff, state):
    """--diff: one line per user, dates in the site's time zone (as the course read reports it)."""
    return user_lines(diff['before'], diff['after'], site_zone(state.timezone)) if moodle.diff_mode else None


def _instance_id(state):
    return state.manual_instance['id'] if state.manual_instance else None


def main():
    run(MoodleModule(argument_spec()))


def run(moodle):
    """The module's work on ``moodle`` (a MoodleModule built from argument_spec()); the action plugin
    of the same name calls it in the controller's worker process."""
    refuse_restore_options_for_undo(moodle)
    if moodle.params['query'] and not HAS_JMESPATH:
        moodle.fail_json(msg=missing_required_lib('jmespath'), exception=JMESPATH_IMPORT_ERROR)
    moodle.require_companion()
    store = BackupStore(moodle.params['backup_dir'], moodle.client.url, moodle.course)
    path, backup = chosen_backup(moodle, store)

    def read_plan_write(run):
        _course, state = moodle.read_course_state()
        try:
            if moodle.params['state'] == 'present':
                restore(moodle, store, path, backup or backup_of_the_course(moodle, state), state, run)
            else:
                undo(moodle, store, path, state, run)
        except (PlanError, BackupError, OSError) as err:
            moodle.fail_json(msg='%s: %s' % (moodle.course_label(), err))

    run_course_step(moodle, 'restore' if moodle.params['state'] == 'present' else 'revert', read_plan_write)


if __name__ == '__main__':
    main()
