# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning: backup rows + the course's current state -> changes.

Nothing here talks to Moodle, touches files or knows about Ansible. The
modules read the course (keepaccess), hand the answer to
``CourseState.from_api`` and ask this module what to write.

Rules (docs/design.md, "Restore rules" and "End dates") follow what Moodle's
course restore with "restore users as manual enrolments" (enrol_manual's
restore_user_enrolment, row by row) and the Participants page's filters do;
the deliberate deviations are listed in README.md, "What differs from doing
it by hand".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import math
import re
import traceback

try:
    import jmespath
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9
    zoneinfo = None

ACTIVE = 0
SUSPENDED = 1
ENROL_FIELDS = ('status', 'timestart', 'timeend')
MANUAL_COMPONENT = ''
BACKUP_INSTANCE_FIELDS = ('id', 'enrol', 'name', 'status', 'roleid', 'cohortid')
STATUS_NAMES = {ACTIVE: 'active', SUSPENDED: 'suspended'}
LARGEST_UNIX_TIME = 9999999999  # Moodle stores times in int(10)


class PlanError(Exception):
    """Bad input or data that forbids a plan; ``option`` names the module option at fault."""

    def __init__(self, message, option=None):
        super(PlanError, self).__init__(message)
        self.option = option


# ---------------------------------------------------------------- course state

class CourseState:
    """One course as ``local_keepaccess_get_course_enrolments`` describes it.

    ``inherited``: role assignments of the course's users in parent contexts (category, site);
    they count for "which roles does the user hold" (Moodle's Participants filter) and nothing else.
    ``assignable_roleids``: roles the caller may assign in the course; None when the companion
    plugin does not say (before version 2026120100).
    """

    def __init__(self, course, instances, userenrolments, roleassignments, roles, timezone, inherited=(),
                 assignable_roleids=None):
        self.course = course
        self.instances = instances
        self.instance_by_id = dict((i['id'], i) for i in instances)
        self.roles_by_id = dict((r['id'], r) for r in roles)
        self.roles_by_shortname = dict((r['shortname'], r) for r in roles)
        self.timezone = timezone
        self.users = {}
        self.enrolments_by_user = {}
        self.roleassignments_by_user = {}
        for ue in userenrolments:
            self._add_enrolment(ue)
        for ra in roleassignments:
            self.roleassignments_by_user.setdefault(ra['userid'], []).append(ra)
        self.inherited = list(inherited)
        self.inherited_by_user = {}
        for ra in self.inherited:
            self.inherited_by_user.setdefault(ra['userid'], []).append(ra)
        self.assignable_roleids = None if assignable_roleids is None else frozenset(assignable_roleids)
        self.plugin_version = 0
        self._manual = self._first_manual_instance(enabled_only=True)

    @classmethod
    def from_api(cls, answer):
        """Build from one merged answer or a list of pages of it."""
        pages = answer if isinstance(answer, list) else [answer]
        if not pages:
            raise PlanError('no course enrolments were read')
        first = pages[0]
        userenrolments = []
        roleassignments = []
        inherited = []
        for page in pages:
            userenrolments.extend(_int_fields(ue, ('id', 'enrolid', 'userid', 'status', 'timestart', 'timeend',
                                                   'usersuspended', 'userdeleted'))
                                  for ue in page.get('userenrolments') or [])
            roleassignments.extend(_int_fields(ra, ('id', 'userid', 'roleid', 'itemid'))
                                   for ra in page.get('roleassignments') or [])
            inherited.extend(_int_fields(ra, ('id', 'userid', 'roleid', 'contextlevel'))
                             for ra in page.get('inheritedroleassignments') or [])
        assignable = first.get('assignableroles')
        state = cls(
            course=_int_fields(first['course'], ('id',)),
            instances=[_int_fields(i, ('id', 'status', 'roleid', 'cohortid')) for i in first.get('instances') or []],
            userenrolments=userenrolments,
            roleassignments=roleassignments,
            roles=[_int_fields(r, ('id',)) for r in first.get('roles') or []],
            timezone=first.get('timezone') or 'UTC',
            inherited=inherited,
            assignable_roleids=None if assignable is None else [int(r) for r in assignable],
        )
        state.plugin_version = int(first.get('pluginversion') or 0)
        return state

    def _add_enrolment(self, ue):
        userid = ue['userid']
        self.enrolments_by_user.setdefault(userid, []).append(ue)
        known = self.users.setdefault(userid, {'userid': userid, 'username': ue.get('username') or '',
                                               'deleted': False, 'suspended': False})
        known['deleted'] = known['deleted'] or bool(ue.get('userdeleted'))
        known['suspended'] = known['suspended'] or bool(ue.get('usersuspended'))

    def _first_manual_instance(self, enabled_only):
        for instance in self.instances:
            if instance['enrol'] == 'manual' and (instance['status'] == 0 or not enabled_only):
                return instance
        return None

    @property
    def manual_instance(self):
        """The instance Moodle writes manual enrolments to: the first enabled manual one."""
        return self._manual

    def manual_instance_after_ensure(self):
        """The instance ``ensure_manual_instance`` would leave enabled (None: it would create one)."""
        return self._manual or self._first_manual_instance(enabled_only=False)

    def course_label(self):
        return "course %s (%s)" % (self.course.get('id'), self.course.get('shortname', ''))

    def username(self, userid, default=None):
        user = self.users.get(userid)
        return user['username'] if user and user['username'] else (default or str(userid))

    def manual_enrolment(self, userid, instance=None):
        instance = instance or self._manual
        if instance is None:
            return None
        for ue in self.enrolments_by_user.get(userid, ()):
            if ue['enrolid'] == instance['id']:
                return ue
        return None

    def manual_roleids(self, userid):
        return set(ra['roleid'] for ra in self.roleassignments_by_user.get(userid, ())
                   if ra.get('component', '') == MANUAL_COMPONENT and ra.get('itemid', 0) == 0)

    def role_shortnames(self, userid):
        """Every role the user holds in the course, whatever gave it, including those assigned in a parent
        context (category, site): what Moodle's Participants "Roles" filter looks at."""
        held = self.roleassignments_by_user.get(userid, []) + self.inherited_by_user.get(userid, [])
        return sorted(set(self.role_shortname(ra['roleid']) for ra in held))

    def may_assign(self, roleid):
        """Whether the caller may assign the role in the course (unknown: assumed yes)."""
        return self.assignable_roleids is None or roleid in self.assignable_roleids

    def role_shortname(self, roleid):
        role = self.roles_by_id.get(roleid)
        return role['shortname'] if role else str(roleid)

    def role_id(self, shortname, option='roles'):
        role = self.roles_by_shortname.get(shortname)
        if role is None:
            raise PlanError("%s: role '%s' does not exist on this site (roles: %s)"
                            % (option, shortname, ', '.join(sorted(self.roles_by_shortname))), option=option)
        return role['id']


def _int_fields(record, names):
    copy = dict(record)
    for name in names:
        if copy.get(name) is not None:
            copy[name] = int(copy[name])
    return copy


def enrolment_fields(ue):
    return dict((name, ue[name]) for name in ENROL_FIELDS)


# ---------------------------------------------------------------- backups

def selected_methods(state, methods):
    """The enrol methods a backup covers; ``all`` means every method of the course."""
    if 'all' in methods:
        return sorted(set(i['enrol'] for i in state.instances))
    for method in methods:
        if not re.match(r'^[a-z][a-z0-9_]*$', method):
            raise PlanError("methods: '%s' is not an enrolment method name (e.g. database, cohort, all)" % method,
                            option='methods')
    return sorted(set(methods))


def backup_from_state(state, methods, site, taken_at):
    """The backup document (format 1) of the enrolments of ``methods`` in the course."""
    chosen = set(selected_methods(state, methods))
    instances = [dict((k, i.get(k, 0 if k != 'name' else '')) for k in BACKUP_INSTANCE_FIELDS)
                 for i in state.instances if i['enrol'] in chosen]
    instance_ids = set(i['id'] for i in instances)
    enrolments = []
    for userid in sorted(state.enrolments_by_user):
        for ue in sorted(state.enrolments_by_user[userid], key=lambda e: e['enrolid']):
            if ue['enrolid'] in instance_ids:
                enrolments.append(_backup_row(state, ue))
    return {
        'format': 'cemu.moodle.enrolment_backup',
        'format_version': 1,
        'site': site,
        'course': dict((k, state.course.get(k)) for k in ('id', 'shortname', 'idnumber', 'fullname')),
        'taken_at': taken_at,
        'methods': sorted(chosen),
        'instances': instances,
        'enrolments': enrolments,
    }


def _backup_row(state, ue):
    component = 'enrol_' + ue['enrol']
    roles = sorted((ra for ra in state.roleassignments_by_user.get(ue['userid'], ())
                    if ra.get('component') == component and ra.get('itemid') == ue['enrolid']),
                   key=lambda ra: ra['roleid'])
    return {
        'userid': ue['userid'], 'username': ue.get('username') or '', 'enrol': ue['enrol'],
        'instanceid': ue['enrolid'], 'status': ue['status'], 'timestart': ue['timestart'], 'timeend': ue['timeend'],
        'roles': [{'roleid': ra['roleid'], 'shortname': state.role_shortname(ra['roleid']),
                   'component': component, 'itemid': ue['enrolid']} for ra in roles],
    }


def same_backup(first, second):
    """Two backups are the same when their instances and enrolments are equal."""
    return first['instances'] == second['instances'] and first['enrolments'] == second['enrolments']


def backup_counts(backup):
    """{method: {active: n, suspended: n}} for every method the backup covers."""
    counts = dict((m, {'active': 0, 'suspended': 0}) for m in backup.get('methods', []))
    for row in backup['enrolments']:
        per_method = counts.setdefault(row['enrol'], {'active': 0, 'suspended': 0})
        per_method[STATUS_NAMES.get(row['status'], 'suspended')] += 1
    return counts


def backup_users(backup):
    return [{'userid': r['userid'], 'username': r['username'], 'enrol': r['enrol'],
             'status': STATUS_NAMES.get(r['status'], 'suspended')} for r in backup['enrolments']]


def backup_diff(older, newer):
    """Per-user before/after of two backups (only users whose rows differ), keyed by username."""
    before = _rows_by_username(older['enrolments'] if older else [])
    after = _rows_by_username(newer['enrolments'])
    names = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    return {'before': dict((n, before[n]) for n in names if n in before),
            'after': dict((n, after[n]) for n in names if n in after)}


def _rows_by_username(rows):
    grouped = {}
    for row in rows:
        short = dict((k, row[k]) for k in ('enrol', 'instanceid', 'status', 'timestart', 'timeend'))
        short['roles'] = [r['shortname'] for r in row.get('roles', [])]
        grouped.setdefault(row['username'] or str(row['userid']), []).append(short)
    return grouped


# ---------------------------------------------------------------- selection

def run_query(query, rows, option='query'):
    """Evaluate a JMESPath expression over ``rows``; the answer must be a list of objects."""
    if not HAS_JMESPATH:
        raise PlanError('%s: the jmespath Python library is required for queries' % option, option=option)
    try:
        result = jmespath.search(query, rows)
    except jmespath.exceptions.JMESPathError as exc:
        raise PlanError("%s: '%s' is not a valid JMESPath expression: %s" % (option, query, exc), option=option)
    if not isinstance(result, list) or not all(isinstance(r, dict) and 'userid' in r for r in result):
        raise PlanError("%s: '%s' must give a list of rows (objects with userid), e.g. \"[?status == `0`]\""
                        % (option, query), option=option)
    return result


def select_backup_rows(backup, state, roles=None, query=None):
    """Backup rows grouped by userid after the ``query`` and ``roles`` filters, each user's rows in the
    order Moodle's restore processes them (see restore_order).

    Returns (ordered list of (userid, rows), set of role shortnames allowed or None for all).
    """
    rows = backup['enrolments']
    if query:
        wanted = set((r.get('userid'), r.get('instanceid')) for r in run_query(query, rows))
        rows = [r for r in rows if (r['userid'], r['instanceid']) in wanted]
    for name in roles or ():
        state.role_id(name)
    allowed = set(roles) if roles else None
    grouped = {}
    for row in rows:
        grouped.setdefault(row['userid'], []).append(row)
    if allowed is not None:
        grouped = dict((uid, urows) for uid, urows in grouped.items()
                       if any(r.get('shortname') in allowed for row in urows for r in row.get('roles', [])))
    order = restore_order(backup)
    return sorted((uid, sorted(urows, key=order)) for uid, urows in grouped.items()), allowed


def restore_order(backup):
    """Sort key of backed-up rows: Moodle's restore processes enrolments instance by instance, in the
    order the backup lists the instances (the course's sortorder: backup_enrolments_structure_step),
    so one user's rows come in the order of their instances."""
    position = dict((i['id'], n) for n, i in enumerate(backup.get('instances', [])))
    return lambda row: (position.get(row['instanceid'], len(position)), row['instanceid'])


# ---------------------------------------------------------------- restore

def source_instance_enabled(row, backup_instances):
    """Whether the row's instance was enabled when backed up (unknown: enabled, as Moodle assumes)."""
    instance = backup_instances.get(row['instanceid'])
    return instance is None or instance.get('status', 0) == 0


def restore_user_enrolment(current, row, source_enabled):
    """enrol_manual's restore_user_enrolment() for one backed-up row.

    ``current``: the user's manual enrolment fields before this row (None: none yet).
    An ACTIVE manual enrolment only merges with an ACTIVE row, and Moodle writes (times of both merged:
    earliest start, no end or else the latest end) only when the row starts LATER than the manual
    enrolment, or has no end while the manual one has one, or ends EARLIER than it; otherwise nothing
    changes (so a row that only starts earlier or only ends later changes nothing). Without an active
    manual enrolment the row's values are written as they are, suspended when its instance was disabled.
    """
    if current is not None and current['status'] == ACTIVE:
        return _merged_with_active(current, row) if row['status'] == ACTIVE else current
    status = row['status'] if source_enabled else SUSPENDED
    return {'status': status, 'timestart': row['timestart'], 'timeend': row['timeend']}


def _merged_with_active(current, row):
    timestart, timeend, write = row['timestart'], row['timeend'], False
    if timestart > current['timestart']:
        timestart, write = current['timestart'], True
    if timeend == 0:
        write = write or current['timeend'] != 0
    elif current['timeend'] == 0:
        timeend = 0
    elif timeend < current['timeend']:
        timeend, write = current['timeend'], True
    if not write:
        return current
    return {'status': row['status'], 'timestart': timestart, 'timeend': timeend}


def restored_enrolment(current, rows, backup_instances):
    """The manual enrolment fields after Moodle's restore processes the user's rows in order."""
    fields = enrolment_fields(current) if current is not None else None
    for row in rows:
        fields = restore_user_enrolment(fields, row, source_instance_enabled(row, backup_instances))
    return enrolment_fields(fields)


class RestorePlan:
    """What a restore would write, and how each user comes out."""

    def __init__(self):
        self.rows = []            # for apply_manual, only rows that change something
        self.created = []
        self.updated = []
        self.unchanged = []
        self.skipped = []         # users not restored: {userid, username, reason}
        self.roles_skipped = []   # role copies not given: {userid, username, reason, role}
        self.kept_suspended = []
        self.updated_enrolments = []   # restore record: [{userid, before, after}]
        self.assigned_roles = []       # restore record: [{userid, roleid}]
        self._diff_entries = []        # (username, current or None, target, roles held, roles added)
        self._role_shortname = None
        self.targets = {}              # userid -> (current manual enrolment or None, fields after the restore)
        self.end_dates_set = []        # end dates written with the restore: [{userid, username, before, after}]

    @property
    def changed(self):
        return bool(self.rows)

    @property
    def diff(self):
        """Per changed user, keyed by username: manual enrolment and manual roles before and after."""
        diff = {'before': {}, 'after': {}}
        for username, current, target, held, added in self._diff_entries:
            if current is not None:
                diff['before'][username] = _diff_view(self._role_shortname, current, held)
            diff['after'][username] = _diff_view(self._role_shortname, target, held | set(added))
        return diff

    def counts(self):
        return dict((name, len(getattr(self, name)))
                    for name in ('created', 'updated', 'unchanged', 'skipped', 'roles_skipped', 'kept_suspended',
                                 'end_dates_set'))

    def record_changes(self, applied=False):
        """What the restore record keeps; once ``applied``, the users it settled too."""
        changes = {'created_enrolments': [u['userid'] for u in self.created],
                   'updated_enrolments': self.updated_enrolments,
                   'assigned_roles': self.assigned_roles}
        if applied:
            changes['settled_users'] = sorted(u['userid'] for name in ('created', 'updated', 'unchanged',
                                                                       'kept_suspended')
                                              for u in getattr(self, name))
            changes['deleted_users'] = sorted(u['userid'] for u in self.skipped if u['reason'] == 'deleted')
        return changes

    def take_rolesskipped(self, answers):
        """Take in the roles Moodle's apply call skipped (``rolesskipped`` of its answers).

        The plan already leaves out the roles the course read says the caller may not assign; this only
        meets a role whose assignability changed between the read and the write.
        """
        for answer in answers:
            refused = set(int(r) for r in answer.get('rolesskipped') or ())
            if not refused:
                continue
            userid = int(answer['userid'])
            user = self._user(userid)
            self.assigned_roles = [a for a in self.assigned_roles
                                   if not (a['userid'] == userid and a['roleid'] in refused)]
            self.roles_skipped.extend(dict(user, reason=ROLE_NOT_ASSIGNABLE, role=self._role_shortname(roleid))
                                      for roleid in sorted(refused))
            if answer.get('result') == 'unchanged' and not answer.get('rolesassigned') and user in self.updated:
                self.updated.remove(user)
                self.unchanged.append(user)

    def _user(self, userid):
        for name in ('created', 'updated', 'unchanged', 'kept_suspended'):
            for user in getattr(self, name):
                if user['userid'] == userid:
                    return user
        return {'userid': userid, 'username': str(userid)}


ROLE_MISSING = 'role_missing'
ROLE_NOT_ASSIGNABLE = 'role_not_assignable'


def plan_restore(backup, state, roles=None, query=None, manual_instance=None, settled=(), deleted=(),
                 refused_roles=(), end_dates=None):
    """Plan making every selected user of ``backup`` hold a manual enrolment (Restore rules).

    ``manual_instance``: the instance to write to (default the course's enabled one);
    None and no enabled instance plans against an empty manual instance (to be created).
    ``settled``: users an earlier, completed restore (of any backup of the course) already
    merged; their manual enrolment is not merged again (its end may since have been set on
    purpose, e.g. by moodle_set_enrol_end), only missing role copies are added. ``deleted``: users Moodle refused as deleted before
    (a deleted account is never restored, and may be gone from the course). ``refused_roles``: role ids
    Moodle refused to let the caller assign (taken as not assignable, like the course read's list).
    ``end_dates``: plan_end_dates()'s options (end, now, policy, roles, status, users, query, allow_past,
    tz); the end dates that step would then set on enrolments this restore writes are written with
    them (fold_end_dates).
    """
    instance = manual_instance or state.manual_instance
    backup_instances = dict((i['id'], i) for i in backup.get('instances', []))
    groups, allowed = select_backup_rows(backup, state, roles, query)
    plan = RestorePlan()
    plan._role_shortname = state.role_shortname
    settled, deleted, refused = set(settled), set(deleted), set(refused_roles)
    for userid, rows in groups:
        _plan_user(plan, state, instance, userid, rows, backup_instances, (allowed, refused), userid in settled,
                   userid in deleted)
    if end_dates is not None:
        fold_end_dates(plan, state, instance, end_dates)
    return plan


def _plan_user(plan, state, instance, userid, rows, backup_instances, role_rules, settled, known_deleted):
    username = state.username(userid, rows[0].get('username'))
    user = {'userid': userid, 'username': username}
    if known_deleted or state.users.get(userid, {}).get('deleted'):
        plan.skipped.append(dict(user, reason='deleted'))
        return
    current = state.manual_enrolment(userid, instance)
    held = state.manual_roleids(userid)
    wanted, skipped_roles = role_copies(state, userid, rows, *role_rules)
    missing_roles = sorted(wanted - held)
    plan.roles_skipped.extend(dict(user, reason=reason, role=role) for role, reason in skipped_roles)
    row = {'userid': userid}
    if current is None:
        target = restored_enrolment(None, rows, backup_instances)
        row.update(target)
        category = 'created'
    elif current['status'] != ACTIVE:
        target = enrolment_fields(current)
        category = 'kept_suspended'
    else:
        target = enrolment_fields(current) if settled else restored_enrolment(current, rows, backup_instances)
        row.update((k, v) for k, v in target.items() if current[k] != v)
        category = 'updated' if len(row) > 1 or missing_roles else 'unchanged'
    if missing_roles:
        row['roleids'] = missing_roles
        plan.assigned_roles.extend({'userid': userid, 'roleid': r} for r in missing_roles)
    getattr(plan, category).append(user)
    plan.targets[userid] = (current, target)
    if len(row) > 1:
        plan.rows.append(row)
        plan._diff_entries.append((username, current, target, held, missing_roles))
    if current is not None and category == 'updated' and enrolment_fields(current) != target:
        plan.updated_enrolments.append({'userid': userid, 'before': enrolment_fields(current), 'after': target})


def role_copies(state, userid, rows, allowed, refused):
    """(role ids to hold as manual copies, [(shortname, reason)] of backed-up roles that cannot be given).

    Moodle's restore maps each backed-up role by its short name to a role the restoring user may assign
    (restore_dbops::get_best_assignable_role) and skips, for that user, a role that maps to none. A role
    the user already holds as a manual copy is not reported.
    """
    held = state.manual_roleids(userid)
    wanted, skipped = set(), []
    for shortname in _backed_up_role_names(rows, allowed):
        role = state.roles_by_shortname.get(shortname)
        if role is None:
            skipped.append((shortname, ROLE_MISSING))
        elif role['id'] in held:
            wanted.add(role['id'])
        elif role['id'] in refused or not state.may_assign(role['id']):
            skipped.append((shortname, ROLE_NOT_ASSIGNABLE))
        else:
            wanted.add(role['id'])
    return wanted, skipped


def _backed_up_role_names(rows, allowed):
    names = []
    for row in rows:
        for role in row.get('roles', []):
            name = role.get('shortname') or str(role['roleid'])
            if (allowed is None or name in allowed) and name not in names:
                names.append(name)
    return names


def _diff_view(role_shortname, fields, roleids):
    view = dict((k, fields[k]) for k in ENROL_FIELDS)
    view['status'] = STATUS_NAMES.get(view['status'], view['status'])
    view['roles'] = sorted(role_shortname(r) for r in roleids)
    return view


# ---------------------------------------------------------------- restore and end date in one write

def restored_enrolments(plan, state, instance):
    """Each planned user's manual enrolment and course roles as the restore leaves them, sorted by user id:
    ``{userid, username, status: active|suspended, timestart, timeend, roles: [shortname]}`` (the shape of
    moodle_restore_manual's ``planned_enrolments`` and moodle_set_enrol_end's ``assume_enrolments``)."""
    rows = dict((row['userid'], row) for row in plan.rows)
    users = sorted((user for name in PLANNED_CATEGORIES for user in getattr(plan, name)), key=lambda u: u['userid'])
    return [_restored_enrolment(user, state.manual_enrolment(user['userid'], instance) if instance else None,
                                rows.get(user['userid'], {}), state) for user in users]


PLANNED_CATEGORIES = ('created', 'updated', 'unchanged', 'kept_suspended')


def _restored_enrolment(user, current, row, state):
    fields = enrolment_fields(current) if current else {}
    fields.update((name, row[name]) for name in ENROL_FIELDS if name in row)
    roles = set(state.role_shortnames(user['userid']))
    roles.update(state.role_shortname(roleid) for roleid in row.get('roleids', ()))
    return {'userid': user['userid'], 'username': user['username'], 'status': STATUS_NAMES[fields['status']],
            'timestart': fields['timestart'], 'timeend': fields['timeend'], 'roles': sorted(roles)}


def fold_end_dates(plan, state, instance, end_dates):
    """Give the enrolments the restore writes the end date moodle_set_enrol_end would set right after it.

    The end-date step's own planning (plan_end_dates, with ``end_dates`` as its options) runs on the course
    as the restore leaves it; each end it would set on a user whose row the restore sends anyway goes into
    that row, so that user is written once. Users the restore does not write are left to the end-date step.
    Refusals (an end in the past, before a start) are raised here, before anything is written.
    """
    after = state_with_enrolments(state, restored_enrolments(plan, state, instance))
    try:
        end_plan = plan_end_dates(after, **end_dates)
    except PlanError as err:
        raise PlanError('end_date: %s' % err, option='end_date')
    rows = dict((row['userid'], row) for row in plan.rows)
    for change in end_plan.changed_users:
        row = rows.get(change['userid'])
        if row is None:
            continue
        row['timeend'] = change['after']
        plan.end_dates_set.append(change)
        _take_folded_end(plan, change['userid'], change['after'])


def _take_folded_end(plan, userid, timeend):
    """The restore's target of the user (its diff and restore record) now ends at ``timeend``."""
    current, target = plan.targets[userid]
    target['timeend'] = timeend
    if current is None or enrolment_fields(current) == target:
        return
    if not any(update['userid'] == userid for update in plan.updated_enrolments):
        plan.updated_enrolments.append({'userid': userid, 'before': enrolment_fields(current), 'after': target})


def state_with_enrolments(state, rows):
    """``state`` as if the manual enrolments ``rows`` (shape of restored_enrolments()) existed, in an enabled
    manual instance (the course's, else the one a restore would enable or add); each row's roles are added as
    manual assignments where the user holds them in no way yet. The users' other enrolments stay as read."""
    instance = _assumed_instance(state)
    instances = [instance] + [i for i in state.instances if i['id'] != instance['id']]
    assumed_users = set(row['userid'] for row in rows)
    enrolments = [ue for ues in state.enrolments_by_user.values() for ue in ues
                  if not (ue['enrolid'] == instance['id'] and ue['userid'] in assumed_users)]
    enrolments += [_assumed_enrolment(row, instance, state) for row in rows]
    assignments = [ra for ras in state.roleassignments_by_user.values() for ra in ras]
    for row in rows:
        assignments += _assumed_role_assignments(row, state)
    return CourseState(state.course, instances, enrolments, assignments, list(state.roles_by_id.values()),
                       state.timezone, inherited=state.inherited, assignable_roleids=state.assignable_roleids)


STATUS_CODES = {'active': ACTIVE, 'suspended': SUSPENDED}


def _assumed_instance(state):
    instance = state.manual_instance_after_ensure()
    if instance is None:
        return {'id': 0, 'enrol': 'manual', 'name': '', 'status': 0, 'roleid': 0, 'cohortid': 0}
    return dict(instance, status=0)


def _assumed_enrolment(row, instance, state):
    current = state.manual_enrolment(row['userid'], instance) or {}
    return {'id': current.get('id', 0), 'enrolid': instance['id'], 'enrol': 'manual', 'userid': row['userid'],
            'username': row['username'] or state.username(row['userid']), 'status': STATUS_CODES[row['status']],
            'timestart': row['timestart'], 'timeend': row['timeend'],
            'usersuspended': current.get('usersuspended', 0), 'userdeleted': 0}


def _assumed_role_assignments(row, state):
    held = set(state.role_shortnames(row['userid']))
    assignments = []
    for shortname in row['roles']:
        roleid = state.role_id(shortname, option='assume_enrolments')
        if shortname not in held:
            assignments.append({'id': 0, 'userid': row['userid'], 'roleid': roleid, 'roleshortname': shortname,
                                'component': '', 'itemid': 0})
    return assignments


# ---------------------------------------------------------------- undo

class UndoPlan:
    """What an undo writes, per user one row: ``rows`` for remove_manual (2026120130 and later: unenrol,
    roles to unassign and the fields to put back in one row, so each user's undo is one write)."""

    def __init__(self):
        self.rows = []          # {userid, unenrol, roleids?, status?, timestart?, timeend?}
        self.removed = []
        self.reverted = []
        self.left_alone = []    # {userid, username, field, expected, found}: changed since the run, kept
        self.roles_unassigned = 0
        self.diff = {'before': {}, 'after': {}}

    @property
    def changed(self):
        return bool(self.rows)

    @property
    def remove_rows(self):
        """For a companion plugin before 2026120130: the rows that unenrol or unassign, without fields."""
        return [dict((k, v) for k, v in row.items() if k not in ENROL_FIELDS)
                for row in self.rows if row['unenrol'] or row.get('roleids')]

    @property
    def revert_rows(self):
        """For a companion plugin before 2026120130: the fields to put back, for apply_manual."""
        return [dict((k, v) for k, v in row.items() if k == 'userid' or k in ENROL_FIELDS)
                for row in self.rows if any(k in row for k in ENROL_FIELDS)]

    def counts(self):
        return {'removed': len(self.removed), 'reverted': len(self.reverted),
                'roles_unassigned': self.roles_unassigned, 'left_alone': len(self.left_alone)}


def plan_undo(record, state):
    """Undo what the conversion and the end-date step changed, where nobody changed it since.

    ``record``: a restore record, or moodle_history.undo_record() (merged with them). Per user:
    a created manual enrolment is removed, unless ``created_after`` says what the runs left on it
    and a field differs now (someone changed it since: the enrolment and its roles stay); an
    enrolment that existed before gets back each field whose current value is the one the runs
    left (``after``); a field with another value is left alone. Every field left alone is listed
    in ``left_alone`` (expected = the value the runs left, found = the current one). Manual roles
    the runs assigned are unassigned, except for a created enrolment left alone.
    """
    plan = UndoPlan()
    created = set(int(u) for u in record.get('created_enrolments', []))
    created_after = dict((int(e['userid']), e['after']) for e in record.get('created_after', []))
    updates = dict((int(u['userid']), u) for u in record.get('updated_enrolments', []) if int(u['userid']) not in created)
    roles_by_user = {}
    for assignment in record.get('assigned_roles', []):
        roles_by_user.setdefault(int(assignment['userid']), set()).add(int(assignment['roleid']))
    for userid in sorted(created | set(updates) | set(roles_by_user)):
        _plan_user_undo(plan, state, userid, userid in created, created_after.get(userid), updates.get(userid),
                        roles_by_user.get(userid, set()))
    return plan


def _plan_user_undo(plan, state, userid, was_created, expected, update, roleids):
    current = state.manual_enrolment(userid)
    username = state.username(userid)
    row = {'userid': userid, 'unenrol': 0}
    if was_created and current is not None:
        changed = _fields_changed_since(expected, current)
        if changed:
            plan.left_alone.extend(dict(user_field, userid=userid, username=username) for user_field in changed)
            return
        row['unenrol'] = 1
    elif update is not None:
        row.update(_fields_to_put_back(plan, userid, username, update, current))
    held = state.manual_roleids(userid)
    unassign = sorted(roleids & held)
    if unassign:
        row['roleids'] = unassign
    if not row['unenrol'] and len(row) == 2:
        return
    plan.rows.append(row)
    plan.roles_unassigned += len(unassign)
    _record_user_undo(plan, state, userid, username, row, current, held)


def _fields_changed_since(expected, current):
    """[{field, expected, found}] of the fields of ``current`` that differ from what the runs left."""
    if not expected:
        return []
    return [{'field': f, 'expected': int(expected[f]), 'found': current[f]}
            for f in ENROL_FIELDS if f in expected and current[f] != int(expected[f])]


def _fields_to_put_back(plan, userid, username, update, current):
    """The fields of an enrolment that existed before to write back; the others are left alone (listed)."""
    if current is None:
        plan.left_alone.append({'userid': userid, 'username': username, 'field': 'enrolment',
                                'expected': 'present', 'found': 'absent'})
        return {}
    after = update.get('after') or {}
    fields = {}
    for field, before in sorted(update['before'].items()):
        if current[field] == before:
            continue
        if field in after and current[field] == after[field]:
            fields[field] = before
        else:
            plan.left_alone.append({'userid': userid, 'username': username, 'field': field,
                                    'expected': after.get(field), 'found': current[field]})
    return fields


def _record_user_undo(plan, state, userid, username, row, current, held):
    user = {'userid': userid, 'username': username}
    roles_after = held - set(row.get('roleids', ()))
    if current is not None:
        plan.diff['before'][username] = _diff_view(state.role_shortname, current, held)
    else:
        plan.diff['before'][username] = {'roles': sorted(state.role_shortname(r) for r in held)}
    if row['unenrol']:
        plan.removed.append(user)
        return
    fields = dict((k, row[k]) for k in ENROL_FIELDS if k in row)
    if fields:
        plan.reverted.append(user)
    if current is not None:
        plan.diff['after'][username] = _diff_view(state.role_shortname, dict(current, **fields), roles_after)
    else:
        plan.diff['after'][username] = {'roles': sorted(state.role_shortname(r) for r in roles_after)}


# ---------------------------------------------------------------- end dates

def resolve_timezone(name, option='timezone'):
    if zoneinfo is None:
        raise PlanError('%s: time zones need Python 3.9 or later on the managed host' % option, option=option)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise PlanError("%s: '%s' is not a known time zone (e.g. Europe/Berlin, UTC)" % (option, name), option=option)


_DATE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})$')
_DIGITS = re.compile(r'^\d{1,10}$')


def parse_end(value, tz):
    """End date -> Unix time. ``tz`` is a tzinfo (see resolve_timezone).

    ``YYYY-MM-DD`` is 23:59:59 of that day in ``tz``; an ISO datetime needs an
    offset or Z; digits are a Unix time.
    """
    text = str(value).strip() if not isinstance(value, bool) else ''
    if _DIGITS.match(text) and int(text) > 0:
        return int(text)
    date = _DATE.match(text)
    if date:
        return _end_of_day(text, date, tz)
    return _aware_datetime(text, value)


def _end_of_day(text, match, tz):
    try:
        day = datetime.datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)), 23, 59, 59, tzinfo=tz)
    except ValueError:
        raise PlanError("end: '%s' is not a valid date" % text, option='end')
    return int(day.timestamp())


def _aware_datetime(text, value):
    bad = ("end: '%s' is not a date (YYYY-MM-DD), an ISO datetime with offset (2026-09-30T23:59:59+02:00) "
           "or a Unix time" % (value,))
    if 'T' not in text and ' ' not in text:
        raise PlanError(bad, option='end')
    try:
        moment = datetime.datetime.fromisoformat(text[:-1] + '+00:00' if text.endswith(('Z', 'z')) else text)
    except ValueError:
        raise PlanError(bad, option='end')
    if moment.tzinfo is None:
        raise PlanError("end: '%s' has no offset; add one (e.g. +02:00 or Z) or give a date" % text, option='end')
    return int(moment.timestamp())


def format_time(unix, tz):
    return datetime.datetime.fromtimestamp(unix, tz).isoformat()


def manual_rows(state):
    """The course's manual enrolments as the rows ``query`` of moodle_set_enrol_end sees."""
    instance = state.manual_instance
    if instance is None:
        return []
    rows = []
    for userid in sorted(state.enrolments_by_user):
        ue = state.manual_enrolment(userid)
        if ue is not None:
            rows.append({'userid': userid, 'username': state.username(userid), 'status': ue['status'],
                         'timestart': ue['timestart'], 'timeend': ue['timeend'],
                         'roles': state.role_shortnames(userid)})
    return rows


PARTICIPANT_STATUSES = ('active', 'suspended', 'any')


def participants_now(now):
    """The "now" of Moodle's Participants status filter: ``round(time(), -2)`` (the nearest 100 s)."""
    return int(math.floor(now / 100.0 + 0.5)) * 100


def enrolment_is_active(state, ue, now):
    """Moodle's Participants "Status: Active" test of one enrolment (participants_search::get_status_sql):
    status active, instance enabled, started (timestart < now) and not ended (timeend 0 or > now)."""
    instance = state.instance_by_id.get(ue['enrolid'])
    return (ue['status'] == ACTIVE and instance is not None and instance.get('status', 0) == 0
            and ue['timestart'] < now and (ue['timeend'] == 0 or ue['timeend'] > now))


def participant_has_status(state, userid, status, now):
    """Whether the Participants filter "Status: <status>" lists the user: ``active`` when at least one of the
    user's enrolments in the course (any method) is active, ``suspended`` when at least one is not
    (suspended, in a disabled instance, not started or ended; a user can be both), ``any`` always."""
    if status == 'any':
        return True
    actives = [enrolment_is_active(state, ue, now) for ue in state.enrolments_by_user.get(userid, ())]
    return any(actives) if status == 'active' else not all(actives)


def select_manual_rows(state, now, roles=None, status='active', users=None, query=None):
    """The manual enrolments step 3 of the manual procedure edits: the users the Participants page lists
    with the filters Roles (any of ``roles``, held in the course or a parent context) and Status, then
    ``users`` and ``query``. Deleted accounts are never listed."""
    if status not in PARTICIPANT_STATUSES:
        raise PlanError("status: '%s' must be one of %s" % (status, ', '.join(PARTICIPANT_STATUSES)),
                        option='status')
    rows = [r for r in manual_rows(state) if not state.users[r['userid']]['deleted']]
    for name in roles or ():
        state.role_id(name)
    if roles:
        wanted_roles = set(roles)
        rows = [r for r in rows if wanted_roles.intersection(r['roles'])]
    moment = participants_now(now)
    rows = [r for r in rows if participant_has_status(state, r['userid'], status, moment)]
    if users:
        rows = _rows_of_users(state, rows, users)
    if query:
        chosen = set(r['userid'] for r in run_query(query, rows))
        rows = [r for r in rows if r['userid'] in chosen]
    return rows


def _rows_of_users(state, rows, users):
    everyone = manual_rows(state)
    ids = dict((str(r['userid']), r['userid']) for r in everyone)
    ids.update((r['username'], r['userid']) for r in everyone)
    unknown = [str(u) for u in users if str(u) not in ids]
    if unknown:
        raise PlanError("users: %s %s no manual enrolment in %s"
                        % (', '.join("'%s'" % u for u in unknown), 'has' if len(unknown) == 1 else 'have',
                           state.course_label()), option='users')
    chosen = set(ids[str(u)] for u in users)
    return [r for r in rows if r['userid'] in chosen]


class EndDatePlan:
    def __init__(self, end):
        self.end = end
        self.rows = []
        self.selected = 0
        self.changed_users = []
        self.diff = {'before': {}, 'after': {}}

    @property
    def changed(self):
        return bool(self.rows)

    def counts(self):
        return {'selected': self.selected, 'changed': len(self.changed_users),
                'unchanged': self.selected - len(self.changed_users)}


def new_timeend(current, end, policy):
    """``set``: exactly ``end``; ``extend``: only a dated end earlier than ``end`` moves."""
    if policy == 'set':
        return end
    if current != 0 and current < end:
        return end
    return current


def plan_end_dates(state, end, now, policy='set', roles=('student',), status='active', users=None, query=None,
                   allow_past=False, tz=None):
    """Plan the timeend of the selected manual enrolments; refuses before any write."""
    if policy not in ('set', 'extend'):
        raise PlanError("policy: '%s' must be set or extend" % policy, option='policy')
    if end < now and not allow_past:
        raise PlanError("end: %s is in the past; set allow_past: true to use it anyway"
                        % _describe_time(end, tz), option='end')
    plan = EndDatePlan(end)
    selected = select_manual_rows(state, now, roles, status, users, query)
    plan.selected = len(selected)
    for row in selected:
        timeend = new_timeend(row['timeend'], end, policy)
        if timeend == row['timeend']:
            continue
        if timeend < row['timestart']:
            raise PlanError("end: %s is before the start (%s) of user '%s' in %s"
                            % (_describe_time(end, tz), _describe_time(row['timestart'], tz), row['username'],
                               state.course_label()), option='end')
        plan.rows.append({'userid': row['userid'], 'timeend': timeend})
        plan.changed_users.append({'userid': row['userid'], 'username': row['username'],
                                   'before': row['timeend'], 'after': timeend})
        # the manual enrolment's status and the user's roles in the course: for the --diff line
        shown = {'status': STATUS_NAMES.get(row['status'], 'suspended'), 'roles': row['roles']}
        plan.diff['before'][row['username']] = dict(shown, timeend=row['timeend'])
        plan.diff['after'][row['username']] = dict(shown, timeend=timeend)
    return plan


def _describe_time(unix, tz):
    return format_time(unix, tz) if tz is not None else str(unix)
