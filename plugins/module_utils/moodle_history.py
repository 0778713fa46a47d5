# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What earlier runs did to a course, from the history Moodle keeps (local_keepaccess_get_course_history).

Pure functions over the history records, so that any controller (a fresh AWX container, a
rebuilt cron host) knows what earlier runs did: which users a restore already settled (their
enrolment is not merged again, so an end date set since is never cleared), and what to undo.
The records' shape is docs/design.md's; the undo record is the one plan.plan_undo() takes
(the same as a controller restore record), so controller records and Moodle's history are
honoured the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

RESTORE_STEP = 'restore'
END_DATE_STEP = 'enddate'
REVERT_STEP = 'revert'
LEGACY_STEP = ''
CONVERSION_STEPS = (RESTORE_STEP, END_DATE_STEP, LEGACY_STEP)
FIELDS = ('status', 'timestart', 'timeend')


def _roles(text):
    return set(int(part) for part in str(text or '').split(',') if part.strip())


def _enrolment(record, when):
    """{status, timestart, timeend} of a record's side ('before'/'after'), or None without an enrolment."""
    present = record['hadbefore' if when == 'before' else 'hasafter']
    if not int(present):
        return None
    return dict((field, int(record[field + when])) for field in FIELDS)


def since_last_revert(records):
    """{userid: [records]} of the conversion steps after each user's last revert, oldest first."""
    by_user = {}
    for record in sorted(records, key=lambda r: int(r['id'])):
        userid = int(record['userid'])
        if record.get('step') == REVERT_STEP:
            by_user.pop(userid, None)
        elif record.get('step') in CONVERSION_STEPS:
            by_user.setdefault(userid, []).append(record)
    return by_user


def settled_users(records):
    """Users an earlier conversion left with a manual enrolment (not undone since): never merged again.

    A restore, or an end date set on the user's manual enrolment, settles them; writes that named no
    step (the collection before it named them) count too. The end-date step counts because a restore
    writes nothing for a user whose manual enrolment already matches (e.g. an active manual enrolment
    next to the database one): Moodle's history then holds only the end date the next step set, and
    merging that user again ("no end wins") would clear it.
    """
    return sorted(userid for userid, user_records in since_last_revert(records).items()
                  if any(int(r['hasafter']) for r in user_records))


def undo_record(records):
    """What the conversion and end-date steps changed, as plan.plan_undo() takes it.

    Per user, the state before their first conversion record and after their last one:
    ``created_enrolments`` (no manual enrolment before), ``created_after`` (``{userid, after}``: the
    fields the runs left on each created enrolment, so that one changed since is left alone),
    ``updated_enrolments`` (an enrolment that existed before, with the fields before and after,
    end dates set on it included) and ``assigned_roles`` (manual roles held after that were not
    held before).
    """
    record = {'created_enrolments': [], 'created_after': [], 'updated_enrolments': [], 'assigned_roles': []}
    for userid, user_records in sorted(since_last_revert(records).items()):
        first, last = user_records[0], user_records[-1]
        before, after = _enrolment(first, 'before'), _enrolment(last, 'after')
        if before is None and after is not None:
            record['created_enrolments'].append(userid)
            record['created_after'].append({'userid': userid, 'after': after})
        elif before is not None and after is not None and before != after:
            changed = [field for field in FIELDS if before[field] != after[field]]
            record['updated_enrolments'].append({
                'userid': userid, 'before': dict((f, before[f]) for f in changed),
                'after': dict((f, after[f]) for f in changed)})
        for roleid in sorted(_roles(last['rolesafter']) - _roles(first['rolesbefore'])):
            record['assigned_roles'].append({'userid': userid, 'roleid': roleid})
    return record


def merge_undo_records(*records):
    """One undo record from several (Moodle's history and controller restore records): union per user.

    A user created by any of them counts as created; an update, and the fields left on a created
    enrolment, are kept from the first record that has them for the user (Moodle's history first,
    so it wins over a controller copy).
    """
    merged = {'created_enrolments': [], 'created_after': [], 'updated_enrolments': [], 'assigned_roles': []}
    created, updated, roles, created_after = set(), set(), set(), set()
    for record in records:
        created.update(int(u) for u in record.get('created_enrolments', []))
    for record in records:
        for entry in record.get('created_after', []):
            if int(entry['userid']) in created and int(entry['userid']) not in created_after:
                created_after.add(int(entry['userid']))
                merged['created_after'].append(entry)
        for update in record.get('updated_enrolments', []):
            if update['userid'] not in created and update['userid'] not in updated:
                updated.add(update['userid'])
                merged['updated_enrolments'].append(update)
        for assignment in record.get('assigned_roles', []):
            roles.add((int(assignment['userid']), int(assignment['roleid'])))
    merged['created_enrolments'] = sorted(created)
    merged['assigned_roles'] = [{'userid': u, 'roleid': r} for u, r in sorted(roles)]
    return merged
