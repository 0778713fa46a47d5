# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated Moodle's data: tables, indexes, and Moodle's enrolment operations.

Every write goes through three primitives (insert, update, delete) that keep
the indexes right and, inside ``transaction()``, record how to undo
themselves, so a failing web-service call leaves no trace (Moodle's
delegated transaction).
"""

from __future__ import annotations

import contextlib
import time

ROLES = (
    # id, shortname, name (role_get_name), sortorder
    (1, 'manager', 'Manager', 1),
    (2, 'coursecreator', 'Course creator', 2),
    (3, 'editingteacher', 'Teacher', 3),
    (4, 'teacher', 'Non-editing teacher', 4),
    (5, 'student', 'Student', 5),
    (6, 'guest', 'Guest', 6),
    (7, 'user', 'Authenticated user', 7),
    (8, 'frontpage', 'Authenticated user on site home', 8),
)
# Standard roles whose context levels include the course (get_assignable_roles() in a course
# offers no other role, whatever "Allow role assignments" says; custom roles made for the
# web service, like keepaccess_ws, are system-level only).
ROLES_ASSIGNABLE_IN_COURSE = frozenset((1, 3, 4, 5))
EDITINGTEACHER = 3
STUDENT = 5
GUEST_USERID = 1
ADMIN_USERID = 2
SITE_COURSEID = 1
# $CFG->enrol_plugins_enabled of the live Moodle 4.5 site (Moodle's default plus database).
ENROL_PLUGINS_ENABLED = ('manual', 'guest', 'self', 'cohort', 'database')
# Role a plugin gives when its instance's roleid is 0: enrol_database's instances keep roleid 0
# and enrol with the plugin setting `defaultrole` (student on the live site).
PLUGIN_DEFAULT_ROLES = {'database': STUDENT}

UE_ACTIVE, UE_SUSPENDED = 0, 1
INSTANCE_ENABLED, INSTANCE_DISABLED = 0, 1
# Context levels (CONTEXT_SYSTEM, CONTEXT_COURSECAT) and ids: the simulator models no context table;
# the system context is id 1 and a category's context id is CATEGORY_CONTEXT_BASE + the category id.
CONTEXT_SYSTEM, CONTEXT_COURSECAT = 10, 40
SYSTEM_CONTEXTID = 1
CATEGORY_CONTEXT_BASE = 100000

TABLES = ('users', 'roles', 'categories', 'courses', 'instances', 'user_enrolments',
          'role_assignments', 'cohorts', 'system_role_assignments', 'category_role_assignments',
          # local_keepaccess's own tables (db/install.xml)
          'keepaccess_history', 'keepaccess_lease')


def role_component(instance):
    """Component of the role assignments an enrol instance makes (manual's are unprotected)."""
    return '' if instance['enrol'] == 'manual' else 'enrol_' + instance['enrol']


def role_itemid(instance):
    """Item id of the role assignments an enrol instance makes."""
    return 0 if instance['enrol'] == 'manual' else instance['id']


class State:
    """In-memory Moodle tables with indexes and an undo journal."""

    def __init__(self, version='4.5', site_name='Moodle Simulator', timezone='Europe/Berlin'):
        self.version = version
        self.site = {'name': site_name, 'timezone': timezone, 'siteadmins': [ADMIN_USERID],
                     'enrol_plugins_enabled': list(ENROL_PLUGINS_ENABLED)}
        self.tables = {name: {} for name in TABLES}
        self.next_ids = {name: 1 for name in TABLES}
        self.cohort_members = {}         # cohortid -> set(userid)
        self.messages = []               # welcome messages sent
        self._journal = None
        self._reset_indexes()
        for roleid, shortname, name, sortorder in ROLES:
            self.insert('roles', {'id': roleid, 'shortname': shortname, 'name': name, 'sortorder': sortorder,
                                  'capabilities': [], 'allowassign': []})

    # ----- indexes -------------------------------------------------------
    def _reset_indexes(self):
        self.course_instances = {}       # courseid -> [instanceid]
        self.ue_by_instance = {}         # enrolid -> {userid: ueid}
        self.ue_by_user = {}             # userid -> set(ueid)
        self.ra_by_course = {}           # courseid -> {userid: [raid]}
        self.role_holders = {}           # (courseid, roleid) -> {userid: number of assignments}
        self.username_ids = {}           # username -> userid

    def _index(self, table, record):
        if table == 'instances':
            self.course_instances.setdefault(record['courseid'], []).append(record['id'])
            self.ue_by_instance.setdefault(record['id'], {})
        elif table == 'user_enrolments':
            self.ue_by_instance.setdefault(record['enrolid'], {})[record['userid']] = record['id']
            self.ue_by_user.setdefault(record['userid'], set()).add(record['id'])
        elif table == 'role_assignments':
            self.ra_by_course.setdefault(record['courseid'], {}).setdefault(record['userid'], []).append(record['id'])
            holders = self.role_holders.setdefault((record['courseid'], record['roleid']), {})
            holders[record['userid']] = holders.get(record['userid'], 0) + 1
        elif table == 'users':
            self.username_ids[record['username']] = record['id']
        elif table == 'cohorts':
            self.cohort_members.setdefault(record['id'], set())

    def _unindex(self, table, record):
        if table == 'instances':
            self.course_instances[record['courseid']].remove(record['id'])
        elif table == 'user_enrolments':
            del self.ue_by_instance[record['enrolid']][record['userid']]
            self.ue_by_user[record['userid']].discard(record['id'])
        elif table == 'role_assignments':
            per_user = self.ra_by_course[record['courseid']]
            per_user[record['userid']].remove(record['id'])
            if not per_user[record['userid']]:
                del per_user[record['userid']]
            holders = self.role_holders[(record['courseid'], record['roleid'])]
            holders[record['userid']] -= 1
            if not holders[record['userid']]:
                del holders[record['userid']]
        elif table == 'users':
            self.username_ids.pop(record['username'], None)

    # ----- primitives with undo -----------------------------------------
    def _log_undo(self, undo):
        if self._journal is not None:
            self._journal.append(undo)

    def insert(self, table, record):
        """Insert a record (id given or next free); return its id."""
        record = dict(record)
        if record.get('id') is None:
            record['id'] = self.next_ids[table]
        if record['id'] in self.tables[table]:
            raise ValueError('%s id %s exists' % (table, record['id']))
        self.next_ids[table] = max(self.next_ids[table], record['id'] + 1)
        self.tables[table][record['id']] = record
        self._index(table, record)
        self._log_undo(lambda: self._raw_delete(table, record['id']))
        return record['id']

    def update(self, table, recid, **changes):
        """Change fields of a record."""
        record = self.tables[table][recid]
        before = {key: record[key] for key in changes}
        record.update(changes)
        self._log_undo(lambda: record.update(before))

    def delete(self, table, recid):
        """Delete a record."""
        record = self._raw_delete(table, recid)
        self._log_undo(lambda: self._raw_insert(table, record))

    def _raw_delete(self, table, recid):
        record = self.tables[table].pop(recid)
        self._unindex(table, record)
        return record

    def _raw_insert(self, table, record):
        self.tables[table][record['id']] = record
        self._index(table, record)

    def add_message(self, message):
        """Record a sent message (undone with the transaction)."""
        self.messages.append(message)
        self._log_undo(self.messages.pop)

    def set_cohort_member(self, cohortid, userid, member):
        """Add or remove a cohort member."""
        members = self.cohort_members[cohortid]
        if (userid in members) == member:
            return
        (members.add if member else members.discard)(userid)
        self._log_undo(lambda: (members.discard if member else members.add)(userid))

    @contextlib.contextmanager
    def transaction(self):
        """All writes inside happen, or none (on any exception)."""
        self._journal = []
        try:
            yield
        except BaseException:
            for undo in reversed(self._journal):
                undo()
            raise
        finally:
            self._journal = None

    # ----- the clock -------------------------------------------------------
    def now(self):
        """time() on the simulated site: the real clock plus the offset a test set (shift_clock)."""
        return int(time.time()) + int(self.site.get('clock_offset', 0))

    # ----- reading ---------------------------------------------------------
    def user(self, userid):
        """Return the user record or None."""
        return self.tables['users'].get(userid)

    def course(self, courseid):
        """Return the course record or None (the site course is not a course here)."""
        return self.tables['courses'].get(courseid)

    def instances_of(self, courseid, enabled_only=False):
        """Enrol instances of a course ordered by (sortorder, id), like enrol_get_instances().

        enabled_only: enabled instances of plugins enabled on the site (enrol_get_instances($id, true)).
        """
        records = [self.tables['instances'][i] for i in self.course_instances.get(courseid, ())]
        if enabled_only:
            records = [r for r in records if r['status'] == INSTANCE_ENABLED and self.plugin_enabled(r['enrol'])]
        return sorted(records, key=lambda r: (r['sortorder'], r['id']))

    def plugin_enabled(self, enrol):
        """enrol_is_enabled(): the plugin is in $CFG->enrol_plugins_enabled."""
        return enrol in self.site.get('enrol_plugins_enabled', ENROL_PLUGINS_ENABLED)

    # ----- the caller's rights ---------------------------------------------------
    def is_site_admin(self, userid):
        """is_siteadmin(): the user is in $CFG->siteadmins."""
        return userid in self.site.get('siteadmins', (ADMIN_USERID,))

    def system_roles_of(self, userid):
        """Role records the user holds in the system context."""
        roles = self.tables['roles']
        return [roles[ra['roleid']] for ra in self.tables['system_role_assignments'].values()
                if ra['userid'] == userid and ra['roleid'] in roles]

    def user_has_capability(self, userid, capability):
        """has_capability() in a course context for a user who is not enrolled there: site admins have
        every capability, anybody else what their system roles allow."""
        if self.is_site_admin(userid):
            return True
        return any(capability in role.get('capabilities', ()) for role in self.system_roles_of(userid))

    def assignable_roles(self, userid):
        """get_assignable_roles() in a course context: role ids the user may assign there."""
        if self.is_site_admin(userid):
            return ROLES_ASSIGNABLE_IN_COURSE
        allowed = set()
        for role in self.system_roles_of(userid):
            allowed.update(role.get('allowassign', ()))
        return frozenset(allowed) & ROLES_ASSIGNABLE_IN_COURSE

    def first_manual_instance(self, courseid, enabled_only=True):
        """The instance enrol_manual_enrol_users uses: first (enabled) manual one, or None."""
        for instance in self.instances_of(courseid, enabled_only):
            if instance['enrol'] == 'manual':
                return instance
        return None

    def user_enrolment(self, instanceid, userid):
        """Return the user_enrolments row of a user in an instance, or None."""
        ueid = self.ue_by_instance.get(instanceid, {}).get(userid)
        return None if ueid is None else self.tables['user_enrolments'][ueid]

    def course_user_enrolments(self, courseid):
        """All user_enrolments rows of a course."""
        ues = self.tables['user_enrolments']
        return [ues[ueid] for instanceid in self.course_instances.get(courseid, ())
                for ueid in self.ue_by_instance[instanceid].values()]

    def user_course_enrolments(self, userid, courseid):
        """The user's user_enrolments rows in one course (through the course's instances: a teacher of
        thousands of courses is not scanned once per course)."""
        ues = self.tables['user_enrolments']
        found = (self.ue_by_instance.get(enrolid, {}).get(userid) for enrolid in self.course_instances.get(courseid, ()))
        return [ues[ueid] for ueid in found if ueid is not None]

    def role_assignments(self, courseid, userid):
        """Course-context role assignments of a user, oldest first."""
        ras = self.tables['role_assignments']
        return [ras[raid] for raid in self.ra_by_course.get(courseid, {}).get(userid, ())]

    def course_category_chain(self, courseid):
        """Ids of the course's category and its parents, nearest first."""
        chain, categoryid = [], self.tables['courses'][courseid]['category']
        while categoryid and categoryid in self.tables['categories'] and categoryid not in chain:
            chain.append(categoryid)
            categoryid = self.tables['categories'][categoryid]['parent']
        return chain

    def inherited_role_assignments(self, courseid, userid):
        """The user's role assignments in the course's parent contexts (categories, then the system),
        each with its contextid and contextlevel, by id within each context level."""
        found = []
        chain = self.course_category_chain(courseid)
        for ra in sorted(self.tables['category_role_assignments'].values(), key=lambda r: r['id']):
            if ra['userid'] == userid and ra['categoryid'] in chain:
                found.append(dict(ra, contextid=CATEGORY_CONTEXT_BASE + ra['categoryid'],
                                  contextlevel=CONTEXT_COURSECAT))
        for ra in sorted(self.tables['system_role_assignments'].values(), key=lambda r: r['id']):
            if ra['userid'] == userid:
                found.append(dict(ra, contextid=SYSTEM_CONTEXTID, contextlevel=CONTEXT_SYSTEM))
        return found

    def is_active_enrolment(self, ue, now=None):
        """Moodle's active-enrolment test: ue and instance enabled, now within the dates."""
        now = time.time() if now is None else now
        instance = self.tables['instances'][ue['enrolid']]
        return (ue['status'] == UE_ACTIVE and instance['status'] == INSTANCE_ENABLED
                and ue['timestart'] < now and (ue['timeend'] == 0 or ue['timeend'] > now))

    def users_with_role(self, courseid, roleid):
        """Ids of undeleted users holding a role in the course context, ordered by id."""
        users = self.tables['users']
        return sorted(userid for userid in self.role_holders.get((courseid, roleid), ())
                      if userid in users and not users[userid]['deleted'])

    def welcome_contact(self, courseid):
        """The user a welcome message comes from: a course editing teacher, or None."""
        teachers = self.users_with_role(courseid, EDITINGTEACHER)
        return teachers[0] if teachers else None

    def course_contacts(self, courseid):
        """Course contacts as course answers list them: editing teachers actively enrolled."""
        contacts = []
        for userid in self.users_with_role(courseid, EDITINGTEACHER):
            if any(self.is_active_enrolment(ue) for ue in self.user_course_enrolments(userid, courseid)):
                contacts.append(self.tables['users'][userid])
        return sorted(contacts, key=lambda u: (u['lastname'], u['firstname'], u['id']))

    # ----- Moodle operations -------------------------------------------------
    def role_assign(self, roleid, userid, courseid, component='', itemid=0):
        """role_assign(): add the assignment unless that exact one exists; return (raid, created)."""
        for ra in self.role_assignments(courseid, userid):
            if (ra['roleid'], ra['component'], ra['itemid']) == (roleid, component, itemid):
                return ra['id'], False
        raid = self.insert('role_assignments', {'courseid': courseid, 'userid': userid, 'roleid': roleid,
                                                'component': component, 'itemid': itemid,
                                                'timemodified': int(time.time())})
        return raid, True

    def assign_category_role(self, categoryid, userid, roleid):
        """role_assign() in a category context (nothing if it exists); return the assignment id."""
        for ra in self.tables['category_role_assignments'].values():
            if (ra['categoryid'], ra['userid'], ra['roleid']) == (categoryid, userid, roleid):
                return ra['id']
        return self.insert('category_role_assignments', {'categoryid': categoryid, 'userid': userid,
                                                         'roleid': roleid, 'component': '', 'itemid': 0})

    def role_unassign_all(self, userid, courseid, roleid=None, component=None, itemid=None):
        """role_unassign_all(): remove the user's course assignments matching the given fields."""
        wanted = {key: value for key, value in (('roleid', roleid), ('component', component), ('itemid', itemid))
                  if value is not None}
        removed = []
        for ra in list(self.role_assignments(courseid, userid)):
            if all(ra[key] == value for key, value in wanted.items()):
                self.delete('role_assignments', ra['id'])
                removed.append(ra['roleid'])
        return removed

    def enrol_user(self, instance, userid, roleid=None, timestart=0, timeend=0, status=None):
        """enrol_plugin::enrol_user(): upsert the enrolment, then assign the role. Return (ueid, created)."""
        ue = self.user_enrolment(instance['id'], userid)
        if ue is None:
            now = int(time.time())
            ueid = self.insert('user_enrolments', {
                'enrolid': instance['id'], 'userid': userid, 'status': UE_ACTIVE if status is None else status,
                'timestart': timestart, 'timeend': timeend, 'timecreated': now, 'timemodified': now})
            created = True
        else:
            ueid, created = ue['id'], False
            if (ue['timestart'] != timestart or ue['timeend'] != timeend
                    or (status is not None and ue['status'] != status)):
                self.update_user_enrol(ue, status=status, timestart=timestart, timeend=timeend)
        if roleid:
            self.role_assign(roleid, userid, instance['courseid'], role_component(instance), role_itemid(instance))
        return ueid, created

    def update_user_enrol(self, ue, status=None, timestart=None, timeend=None):
        """enrol_plugin::update_user_enrol(): write the given (not None) fields."""
        changes = {key: value for key, value in (('status', status), ('timestart', timestart), ('timeend', timeend))
                   if value is not None}
        if changes:
            changes['timemodified'] = int(time.time())
            self.update('user_enrolments', ue['id'], **changes)

    def unenrol_user(self, instance, userid):
        """enrol_plugin::unenrol_user(): drop the enrolment; the last one of the course takes every course role."""
        ue = self.user_enrolment(instance['id'], userid)
        if ue is None:
            return False
        courseid = instance['courseid']
        # Moodle removes the roles of component 'enrol_<name>' (for manual: none, its roles have component '').
        self.role_unassign_all(userid, courseid, component='enrol_' + instance['enrol'], itemid=instance['id'])
        self.delete('user_enrolments', ue['id'])
        if not self.user_course_enrolments(userid, courseid):
            self.role_unassign_all(userid, courseid)
        return True

    # ----- dump / load -------------------------------------------------------
    def dump(self):
        """Return the whole state as JSON-ready data."""
        return {
            'version': self.version, 'site': dict(self.site),
            'tables': {name: sorted(self.tables[name].values(), key=lambda r: r['id']) for name in TABLES},
            'cohort_members': {str(cid): sorted(members) for cid, members in self.cohort_members.items()},
            'messages': list(self.messages),
        }

    @classmethod
    def load(cls, data):
        """Rebuild a state from dump() output."""
        state = cls.__new__(cls)
        state.version = data['version']
        state.site = dict(data['site'])
        state.tables = {name: {} for name in TABLES}
        state.next_ids = {name: 1 for name in TABLES}
        state.cohort_members = {}
        state.messages = list(data.get('messages', ()))
        state._journal = None
        state._reset_indexes()
        for name in TABLES:
            for record in data['tables'].get(name, ()):
                state.insert(name, record)
        for cid, members in data.get('cohort_members', {}).items():
            state.cohort_members[int(cid)] = set(members)
        return state
