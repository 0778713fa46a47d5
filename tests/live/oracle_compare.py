# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oracle's comparison: per user, what Moodle's own procedure left (copy M) against what the
collection left (copy O), every difference named as one of README.md's deliberate deviations or
reported as undocumented.

Pure Python: used by the live oracle (tests/live/test_oracle.py, real Moodle) and by the simulator
parity test (tests/integration/test_oracle_parity.py, recorded Moodle outcomes), so both judge a
difference the same way.

Shapes (all times already named, see ``name_time``):
- a user's *snapshot* (what oracle.php prints, ``userid``/``username`` dropped): ``enrolments``
  [{instance, instance_status, status, timestart, timeend}] (instance: ``manual``, ``database``,
  ``self``, ``cohort:<key>`` ...), ``roles`` [{role, component, instance}] in the course context,
  ``category_roles`` [shortname], ``account_suspended``;
- a user's *outcome*: ``{"manual": {status, timestart, timeend} or None, "roles": [manual role shortnames]}``.
"""

import collections
import datetime
import os
import re
import zoneinfo

from tests.collection_path import REPO_ROOT

DAY = 86400
END = 'END'
README = os.path.join(REPO_ROOT, 'README.md')
README_SECTION = 'What differs from doing it by hand'
# Roles create_service_user.php lets the least-privilege service user assign (its default).
SERVICE_ASSIGNABLE_ROLES = frozenset(('student', 'teacher', 'editingteacher'))
BACKED_UP = ('database', 'cohort')       # keep_access_methods' default
FIELDS = ('status', 'timestart', 'timeend')

Difference = collections.namedtuple('Difference', 'state user field before moodle ours')


# ----------------------------------------------------------------------------- times and shapes

def name_time(value, anchor, end):
    """A Unix time as the states file names times: 0, END (step 3's end), or days from the anchor."""
    value = int(value)
    if value == 0:
        return 0
    if value == end:
        return END
    offset = value - anchor
    if offset % DAY == 0:
        return '%+dd' % (offset // DAY)
    return 'anchor%+ds' % offset


def end_of_day(date_text, timezone):
    """Step 3's end: 23:59:59 of a YYYY-MM-DD date in a time zone (what the collection computes)."""
    day = datetime.date.fromisoformat(date_text)
    moment = datetime.datetime.combine(day, datetime.time(23, 59, 59), zoneinfo.ZoneInfo(timezone))
    return int(moment.timestamp())


def unname_time(name, anchor, end):
    """The Unix time a named time stands for (the inverse of ``name_time``)."""
    if name in (0, '0', None):
        return 0
    if name == END:
        return end
    match = re.match(r'^([+-]\d+)d$', str(name)) or re.match(r'^anchor([+-]\d+)s$', str(name))
    if not match:
        raise ValueError('not a named time: %r' % (name,))
    return anchor + int(match.group(1)) * (DAY if str(name).endswith('d') else 1)


def named_snapshot(user, anchor, end):
    """A user's snapshot from oracle.php (or the simulator) with its times named and its ids dropped."""
    return {
        'account_suspended': int(user.get('account_suspended', 0)),
        'category_roles': sorted(user.get('category_roles', ())),
        'enrolments': [dict(e, timestart=name_time(e['timestart'], anchor, end),
                            timeend=name_time(e['timeend'], anchor, end)) for e in user['enrolments']],
        'roles': sorted(user['roles'], key=lambda r: (r['role'], r['component'], r['instance'] or '')),
    }


def outcome(snapshot):
    """What the comparison looks at: the manual enrolment and the manual (component '') roles."""
    manual = [e for e in snapshot['enrolments'] if e['instance'] == 'manual']
    return {
        'manual': dict((field, manual[0][field]) for field in FIELDS) if manual else None,
        'roles': sorted(set(r['role'] for r in snapshot['roles'] if r['component'] == '')),
    }


def differences(state, user, before, moodle, ours):
    """Per-field differences of one user's outcomes (``before``: the user's snapshot before both runs)."""
    was = outcome(before)
    found = []
    if (moodle['manual'] is None) != (ours['manual'] is None):
        found.append(Difference(state, user, 'enrolment', _present(was['manual']), _present(moodle['manual']),
                                _present(ours['manual'])))
    elif moodle['manual'] is not None:
        for field in FIELDS:
            if moodle['manual'][field] != ours['manual'][field]:
                found.append(Difference(state, user, field, (was['manual'] or {}).get(field, '-'),
                                        moodle['manual'][field], ours['manual'][field]))
    for role in sorted(set(moodle['roles']) ^ set(ours['roles'])):
        found.append(Difference(state, user, 'role ' + role, _held(role, was['roles']), _held(role, moodle['roles']),
                                _held(role, ours['roles'])))
    return found


def _present(manual):
    return 'none' if manual is None else 'status %s %s..%s' % (manual['status'], manual['timestart'], manual['timeend'])


def _held(role, roles):
    return 'held' if role in roles else '-'


# ----------------------------------------------------------------------------- states as specified

def specified(state, key):
    """The snapshot oracle_states.json describes for one user of a state, before both runs.

    Roles of a disabled cohort instance are left out: whether the cohort sync removes them is a site
    setting (enrol_cohort's unenrolaction), see ``build_problems``.
    """
    spec = state['users'][key]
    cohorts = state.get('cohorts', {})
    manual_status = state.get('manual_instance', {}).get('status', 0)
    enrolments, roles = [], []
    for method, instance_status in (('manual', manual_status), ('database', 0), ('self', 0)):
        row = spec.get(method)
        if row is None:
            continue
        status = row.get('status', 0)
        enrolments.append({'instance': method, 'instance_status': instance_status,
                           'status': {'active': 0, 'suspended': 1}.get(status, status),
                           'timestart': _spec_time(row.get('timestart')), 'timeend': _spec_time(row.get('timeend'))})
        component = 'enrol_database' if method == 'database' else ''
        roles.extend({'role': role, 'component': component, 'instance': method if component else None}
                     for role in row['roles'])
    for cohort in spec.get('cohorts', ()):
        enrolments.append({'instance': 'cohort:' + cohort, 'instance_status': cohorts[cohort]['status'], 'status': 0,
                           'timestart': 0, 'timeend': 0})
        if cohorts[cohort]['status'] == 0:
            roles.append({'role': cohorts[cohort]['role'], 'component': 'enrol_cohort', 'instance': 'cohort:' + cohort})
    return {'account_suspended': int(bool(spec.get('account', {}).get('suspended'))),
            'category_roles': sorted(spec.get('category_roles', ())),
            'enrolments': sorted(enrolments, key=lambda e: e['instance']),
            'roles': sorted(_unique(roles), key=lambda r: (r['role'], r['component'], r['instance'] or ''))}


def _spec_time(value):
    return 0 if value in (None, 0, '0') else value


def _unique(records):
    found = []
    for record in records:
        if record not in found:
            found.append(record)
    return found


def build_problems(state, users):
    """How the users of a built state (``users``: {key: named snapshot}) differ from the states file."""
    disabled = set('cohort:' + k for k, c in state.get('cohorts', {}).items() if c['status'] != 0)
    problems = []
    for key in sorted(set(state['users']) | set(users)):
        if key not in users or key not in state['users']:
            problems.append('%s/%s: built %s, specified %s' % (state['name'], key, key in users, key in state['users']))
            continue
        built = dict(users[key], enrolments=sorted(users[key]['enrolments'], key=lambda e: e['instance']),
                     roles=[r for r in users[key]['roles'] if r['instance'] not in disabled])
        wanted = specified(state, key)
        for part in ('account_suspended', 'category_roles', 'enrolments', 'roles'):
            if built[part] != wanted[part]:
                problems.append('%s/%s %s: built %s, specified %s' % (state['name'], key, part, built[part], wanted[part]))
    return problems


# ----------------------------------------------------------------------------- the deviation table

class Facts:
    """What the deviation rules may know about one user: the course's instances, the user's snapshot
    before, both outcomes, and whether Moodle's restore sync changed the user's source enrolments."""

    def __init__(self, instances, before, moodle, ours, sync_changed):
        self.instances = instances
        self.before = before
        self.moodle = moodle
        self.ours = ours
        self.sync_changed = sync_changed
        self.was = outcome(before)

    def rows(self, methods):
        return [e for e in self.before['enrolments'] if e['instance'].split(':')[0] in methods]

    def active_backed_up_row(self):
        return any(e['status'] == 0 and e['instance_status'] == 0 for e in self.rows(BACKED_UP))

    def backed_up_roles(self):
        return set(r['role'] for r in self.before['roles']
                   if r['component'] in ('enrol_' + method for method in BACKED_UP))

    def enabled_manual_instance(self):
        return any(i['enrol'] == 'manual' and i['status'] == 0 for i in self.instances)


def kept_suspended(facts, difference):
    """Moodle's restore writes an active backed-up row over a suspended manual enrolment (re-activating
    it); ours keeps the suspended enrolment's status and dates as they were."""
    was, ours = facts.was['manual'], facts.ours['manual']
    return (difference.field in FIELDS and was is not None and was['status'] == 1 and facts.active_backed_up_row()
            and ours is not None and ours['status'] == 1 and ours[difference.field] == was[difference.field])


def only_backed_up_methods(facts, difference):
    """Moodle converts every method; a user enrolled only through a method outside keep_access_methods
    (self, ...) is left as they were by ours."""
    other = [e for e in facts.before['enrolments'] if e['instance'] != 'manual'
             and e['instance'].split(':')[0] not in BACKED_UP]
    return bool(other) and not facts.rows(BACKED_UP) and facts.ours == facts.was


def no_enrolment_sync(facts, difference):
    """Moodle's restore ran the enrolment plugins' sync first and it changed this user's source enrolments."""
    return facts.sync_changed


def role_not_assignable(facts, difference):
    """A backed-up role the service user may not assign: Moodle's restore (by the admin) gives the manual
    copy, ours skips that role for that user only."""
    role = difference.field[len('role '):] if difference.field.startswith('role ') else None
    return (role is not None and role not in SERVICE_ASSIGNABLE_ROLES and role in facts.backed_up_roles()
            and difference.moodle == 'held' and difference.ours == '-')


def manual_instance(facts, difference):
    """Moodle's restore and bulk edit write into a disabled manual instance; ours fails the course when it
    has no enabled one (and leaves every user as they were)."""
    return not facts.enabled_manual_instance() and facts.ours == facts.was


Deviation = collections.namedtuple('Deviation', 'kind readme explains')

# Every deliberate deviation the oracle may meet, with the README bullet ("- **<readme>**" in
# "What differs from doing it by hand") that documents it. A difference no rule explains, or one whose
# bullet is missing from README.md, is undocumented.
DEVIATIONS = (
    Deviation('kept_suspended', 'A suspended manual enrolment stays suspended.', kept_suspended),
    Deviation('only_backed_up_methods', 'Only the backed-up methods.', only_backed_up_methods),
    Deviation('no_enrolment_sync', 'No enrolment sync.', no_enrolment_sync),
    Deviation('role_not_assignable', "Roles the token's user may not assign are skipped, not failed.",
              role_not_assignable),
    Deviation('manual_instance', 'The manual instance we write to.', manual_instance),
)


def documented_bullets(readme_text):
    """Bold bullet titles of README's "What differs from doing it by hand" section."""
    match = re.search(r'^#+ %s\s*$(.*?)(?=^#+ )' % re.escape(README_SECTION), readme_text, re.M | re.S)
    if not match:
        return set()
    return set(re.findall(r'^- \*\*(.+?)\*\*', match.group(1), re.M))


def read_documented_bullets(path=README):
    with open(path) as handle:
        return documented_bullets(handle.read())


Judged = collections.namedtuple('Judged', 'difference kind readme')


def judge(difference, facts, documented):
    """The deviation that explains a difference (and is documented), or kind None."""
    for deviation in DEVIATIONS:
        if deviation.explains(facts, difference):
            if deviation.readme in documented:
                return Judged(difference, deviation.kind, deviation.readme)
            return Judged(difference, None, 'would be "%s", but README.md does not document it' % deviation.readme)
    return Judged(difference, None, None)


def compare_state(name, instances, users, documented):
    """Judge every difference of one state.

    ``instances``: the course's enrol instances before (oracle.php's shape);
    ``users``: {key: {"before": snapshot, "moodle": outcome, "ours": outcome, "sync_changed": bool}}.
    """
    judged = []
    for key in sorted(users):
        user = users[key]
        facts = Facts(instances, user['before'], user['moodle'], user['ours'], user.get('sync_changed', False))
        for difference in differences(name, key, user['before'], user['moodle'], user['ours']):
            judged.append(judge(difference, facts, documented))
    return judged


class Verdict:
    """Every judged difference of a run, with the counts the oracle prints."""

    def __init__(self, label, states, users_compared, judged):
        self.label = label
        self.states = states
        self.users_compared = users_compared
        self.judged = judged

    @property
    def undocumented(self):
        return [j for j in self.judged if j.kind is None]

    def counts(self):
        counts = collections.Counter(j.kind or 'UNDOCUMENTED' for j in self.judged)
        return dict(sorted(counts.items()))

    def summary(self):
        counts = ', '.join('%s %d' % (kind, n) for kind, n in self.counts().items()) or 'none'
        return ('%s: %d states, %d users compared, %d differences (%s)'
                % (self.label, self.states, self.users_compared, len(self.judged), counts))

    def table(self, only_undocumented=False):
        rows = [j for j in self.judged if j.kind is None or not only_undocumented]
        header = ('state', 'user', 'field', 'before', 'moodle', 'ours', 'deviation')
        lines = [header] + [tuple(str(v) for v in j.difference[:6]) + (j.kind or 'UNDOCUMENTED' + (
            ' (%s)' % j.readme if j.readme else ''),) for j in rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return '\n'.join('  '.join(value.ljust(width) for value, width in zip(line, widths)).rstrip()
                         for line in lines)


def verdict(label, states, documented):
    """Judge a whole run: ``states`` = {name: {"instances": [...], "users": {key: {before, moodle, ours,
    sync_changed}}}}."""
    judged = []
    users = 0
    for name in sorted(states):
        judged.extend(compare_state(name, states[name]['instances'], states[name]['users'], documented))
        users += len(states[name]['users'])
    return Verdict(label, len(states), users, judged)
