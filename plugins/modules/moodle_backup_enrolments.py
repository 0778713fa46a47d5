#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: moodle_backup_enrolments
short_description: Back up a Moodle course's automatic enrolments and their roles to a file
version_added: 0.1.0
description:
  - Reads one course through the companion plugin C(local_keepaccess) and writes a backup file
    holding, for every user enrolment of the selected enrolment methods, the user id, username,
    method, instance id, status, start and end, and the role assignments that enrolment carries
    (component C(enrol_database), C(enrol_cohort) and so on, item id = the instance).
  - Role assignments given by other components, such as the manual copies that
    M(cemu.moodle.moodle_restore_manual) adds, are not recorded, so the next backup after a restore
    is identical and the chain stays idempotent.
  - Only what restoring needs is kept; no e-mail address, no name beyond the username, never the token.
    Files are written atomically with mode 0600 in a directory (0700) per site and course,
    C(<backup_dir>/<site>/course-<id>/enrolments-<UTC time>.json).
  - A backup is history. A new file is written only when the course's enrolments of the selected
    methods differ from the newest backup of the course; otherwise nothing is written and the newest
    file is returned. Older backups are never overwritten or thinned, unless O(retention) asks for it.
author:
  - cemu.moodle contributors (@cemu-moodle)
extends_documentation_fragment:
  - cemu.moodle.connection
  - cemu.moodle.course
  - cemu.moodle.results
  - cemu.moodle.attributes
  - ansible.builtin.action_common_attributes
options:
  methods:
    description:
      - Enrolment methods (enrol plugin names) to back up.
      - V(all) backs up every method of the course, manual included.
      - Must not be empty. A name one or two letters away from one of Moodle's standard enrolment methods
        (V(manual), V(self), V(guest), V(cohort), V(database), V(meta), V(category), V(fee), V(flatfile),
        V(imsenterprise), V(ldap), V(lti), V(mnet), V(paypal)) is refused as a typo, before anything is read
        or written, for example V(databse). Any other plugin name is accepted (add-on enrolment plugins).
      - A method the course has no instance of is normal (a course fed by the external database only, or by
        a cohort only), so it is no warning; the module returns it in RV(missing_methods).
    type: list
    elements: str
    default: [database, cohort]
  backup_dir:
    description:
      - Directory that holds the backups, on the host that runs the module.
    type: path
    default: ~/.local/share/cemu.moodle/backups
  retention:
    description:
      - Keep only the newest O(retention) backups of the course and delete older ones.
      - A backup that has a restore record (see M(cemu.moodle.moodle_restore_manual)) is never deleted.
      - V(0) keeps every backup.
    type: int
    default: 0
attributes:
  check_mode:
    details: Reports whether a backup would be written and which old backups retention would delete.
  diff_mode:
    details:
      - One line naming the course, the backed-up enrolments per method (for example V(30 database, 2 cohort
        enrolments)) and the backup file.
      - The rows per user (by username) in the newest backup and in the new one are returned in RV(user_changes).
notes:
  - Needs the companion plugin C(local_keepaccess) on the Moodle site and its functions in the token's service.
  - Reads the course in one call per 5000 users.
seealso:
  - module: cemu.moodle.moodle_restore_manual
  - module: cemu.moodle.moodle_set_enrol_end
'''

EXAMPLES = r'''
- name: Back up the database and cohort enrolments of course KA1
  cemu.moodle.moodle_backup_enrolments:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    course: KA1
  register: backup

- name: Back up every enrolment method, keep the newest 10 backups
  cemu.moodle.moodle_backup_enrolments:
    course: "12345"
    course_by: idnumber
    methods: [all]
    retention: 10
    backup_dir: /srv/moodle-backups
  environment:
    MOODLE_URL: https://moodle.example.edu
    MOODLE_TOKEN: "{{ vault_moodle_token }}"
'''

RETURN = r'''
backup_file:
  description:
    - Path of the backup written, or of the newest backup when the enrolments did not change.
    - In check mode, the path a new backup would get.
  returned: success
  type: str
  sample: /home/ops/.local/share/cemu.moodle/backups/moodle.example.edu/course-2/enrolments-20260820T100000.123456Z.json
backup_written:
  description: Whether a new backup file was written (in check mode, would be written).
  returned: success
  type: bool
  sample: true
course:
  description: The course backed up.
  returned: success
  type: dict
  contains:
    id:
      description: Course id.
      type: int
    shortname:
      description: Course short name.
      type: str
    idnumber:
      description: Course id number.
      type: str
    fullname:
      description: Course full name.
      type: str
  sample: {id: 2, shortname: KA1, idnumber: KA-2026-1, fullname: Keep access 1}
counts:
  description: Number of backed-up user enrolments per method and status.
  returned: success
  type: dict
  sample: {database: {active: 24, suspended: 1}, cohort: {active: 6, suspended: 0}}
users:
  description: The backed-up user enrolments.
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
    enrol:
      description: Enrolment method.
      type: str
    status:
      description: C(active) or C(suspended).
      type: str
  sample: [{userid: 5, username: student0001, enrol: database, status: active}]
removed_backups:
  description: Backups deleted by O(retention) (in check mode, that would be deleted).
  returned: success
  type: list
  elements: str
  sample: []
missing_methods:
  description:
    - The methods of O(methods) the course has no enrolment instance of (never V(all)); normal for a course
      fed by one source only, and reported here rather than as a warning.
  returned: success
  type: list
  elements: str
  sample: [cohort]
user_changes:
  description: With C(--diff), when a new backup is (or would be) written, the backed-up rows per user (by username)
    in the newest backup (C(before)) and in the new one (C(after)), only users whose rows differ.
  returned: in diff mode, when a backup is or would be written
  type: dict
  sample: {before: {}, after: {student0001: [{enrol: database, instanceid: 12, status: 0, timestart: 0, timeend: 0,
                                              roles: [student]}]}}
'''

import datetime
import difflib
import os

from ansible_collections.cemu.moodle.plugins.module_utils.backup_store import (
    DEFAULT_BACKUP_DIR, DEFAULT_METHODS, BackupError, BackupStore, backup_file_name, normalize_url)
from ansible_collections.cemu.moodle.plugins.module_utils.module_base import MoodleModule
from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    PlanError, backup_counts, backup_diff, backup_from_state, backup_users, same_backup)

# enrol plugins that come with Moodle (4.1 to 5.1); a near miss of one of these is a typo
STANDARD_METHODS = ('manual', 'self', 'guest', 'cohort', 'database', 'meta', 'category', 'fee', 'flatfile',
                    'imsenterprise', 'ldap', 'lti', 'mnet', 'paypal')
TYPO_SIMILARITY = 0.8


def argument_spec():
    return dict(
        methods=dict(type='list', elements='str', default=list(DEFAULT_METHODS)),
        backup_dir=dict(type='path', default=DEFAULT_BACKUP_DIR),
        retention=dict(type='int', default=0),
    )


def methods_problem(methods):
    """Why ``methods`` cannot be right (empty, or a typo of a standard method), or None."""
    if not methods:
        return ('methods is empty: list the enrolment methods to back up, e.g. [database, cohort], '
                'or [all] for every method of the course')
    for method in methods:
        if method == 'all' or method in STANDARD_METHODS:
            continue
        close = difflib.get_close_matches(method, STANDARD_METHODS, n=1, cutoff=TYPO_SIMILARITY)
        if close:
            return ("methods: '%s' is not an enrolment method; did you mean '%s'? Moodle's standard methods: %s "
                    '(or all)' % (method, close[0], ', '.join(STANDARD_METHODS)))
    return None


def site_of(moodle):
    with moodle.moodle_errors():
        info = moodle.api.site_info()
    return {'url': normalize_url(moodle.client.url), 'release': info.get('release', ''),
            'siteid': info.get('siteid', 1)}


def newest_backup(moodle, store):
    """The newest backup's document and path; an unreadable one is reported and not compared."""
    path = store.newest()
    if path is None:
        return None, None
    try:
        return store.load_backup(path), path
    except BackupError as err:
        moodle.module.warn('%s; a new backup is written next to it' % err)
        return None, path


def missing_methods(state, methods):
    """The chosen methods the course has no instance of: normal (a course fed by the database only), so a
    return value and a column of the run report, not a warning."""
    present = set(i['enrol'] for i in state.instances)
    return [m for m in methods if m != 'all' and m not in present]


def diff_summary(moodle, document, path, victims):
    """--diff: one line, e.g. "backup of course 'KA1' (id 2): 30 database, 2 cohort enrolments -> <file>"."""
    per_method = ['%d %s' % (sum(n.values()), method) for method, n in sorted(backup_counts(document).items())
                  if sum(n.values())]
    line = 'backup of %s: %s -> %s' % (moodle.course_label(), '%s enrolments' % ', '.join(per_method)
                                       if per_method else 'no enrolments', path)
    if moodle.check_mode:
        line += ' (check mode: not written)'
    if victims:
        line += '; retention removes %s' % ', '.join(os.path.basename(v) for v in victims)
    return [line]


def main():
    run(MoodleModule(argument_spec()))


def run(moodle):
    """The module's work on ``moodle`` (a MoodleModule built from argument_spec()); the action plugin
    of the same name calls it in the controller's worker process."""
    params = moodle.params
    if params['retention'] < 0:
        moodle.fail_json(msg='retention must be 0 (keep all) or more, got %d' % params['retention'])
    problem = methods_problem(params['methods'])
    if problem:
        moodle.fail_json(msg='%s: %s' % (moodle.course_label(), problem))
    moodle.require_companion()
    course, state = moodle.read_course_state()
    store = BackupStore(params['backup_dir'], moodle.client.url, course)
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        document = backup_from_state(state, params['methods'], site_of(moodle), now.strftime('%Y-%m-%dT%H:%M:%SZ'))
        previous, newest_path = newest_backup(moodle, store)
        write = newest_path is None or previous is None or not same_backup(previous, document)
        path = os.path.join(store.course_dir, backup_file_name(now)) if write else newest_path
        if write and not moodle.check_mode:
            store.write_backup(document, now)
        victims = store.retention_victims(params['retention'], pending=path if write and moodle.check_mode else None)
        if victims and not moodle.check_mode:
            store.remove_backups(victims)
    except (BackupError, PlanError, OSError) as err:
        moodle.fail_json(msg='%s: %s' % (moodle.course_label(), err))
    diff = backup_diff(previous, document) if write and moodle.diff_mode else {'before': None, 'after': None}
    lines = diff_summary(moodle, document, path, victims) if moodle.diff_mode and (write or victims) else None
    moodle.exit(write or bool(victims), before=diff['before'], after=diff['after'], lines=lines,
                backup_file=path, backup_written=write, course=course, counts=backup_counts(document),
                users=backup_users(document), removed_backups=victims,
                missing_methods=missing_methods(state, params['methods']))


if __name__ == '__main__':
    main()
