# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence for issue 6 (faults, bad input, security): figures, playbook runs, snapshots.

``RECORDER`` collects the figures the suite prints at its end (see
conftest.py): cases tried, errors clear, writes after bad input, users lost.
``run_play`` runs any list of Ansible tasks (modules of the collection and
``uri`` calls to the simulator's control API) in ONE real ansible-playbook
run, so that a whole scenario (backup, make the fault, restore, set end)
costs one start of Ansible. The rest reads what a Moodle admin would check:
the course as the users see it, the backup directory, the simulator's
write calls.
"""

import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile

import yaml

from tests.demo.runner import ansible_env

BACKUP_FORMAT = 'cemu.moodle.enrolment_backup'
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


# ----- figures -------------------------------------------------------------------------
class Recorder:
    """What the fault, bad-input and security cases saw; printed at the end of the suite."""

    def __init__(self):
        self.cases = {}

    def bad_input(self, name, clear, writes):
        """A bad input case: was the error clear, how many writes (Moodle calls + backup files) it made."""
        self.cases[('bad input', name)] = {'clear': bool(clear), 'writes': int(writes), 'lost': 0}

    def fault(self, name, converged, users_lost):
        """A fault case: did the re-run converge, how many backed-up users lost access."""
        self.cases[('fault', name)] = {'clear': bool(converged), 'writes': 0, 'lost': int(users_lost)}

    def security(self, name, leaks):
        """A security case: how many places showed the token or were not private."""
        self.cases[('security', name)] = {'clear': not leaks, 'writes': 0, 'lost': 0}

    def figures(self):
        bad = [c for (kind, _name), c in self.cases.items() if kind == 'bad input']
        return {
            'cases tried': len(self.cases),
            'errors clear': '%d of %d bad inputs' % (sum(c['clear'] for c in bad), len(bad)),
            'writes after bad input': sum(c['writes'] for c in bad),
            'users lost': sum(c['lost'] for c in self.cases.values()),
            'cases failing': sorted('%s: %s' % key for key, c in self.cases.items() if not c['clear']),
        }

    def lines(self):
        if not self.cases:
            return []
        figures = self.figures()
        lines = ['%-24s %s' % (name + ':', figures[name])
                 for name in ('cases tried', 'errors clear', 'writes after bad input', 'users lost')]
        lines.append('%-24s %s' % ('not clear / not converged:', ', '.join(figures['cases failing']) or 'none'))
        return lines


RECORDER = Recorder()


# ----- running Ansible -------------------------------------------------------------------
class Play:
    """The outcome of one ansible-playbook run: registered results by task id, exit code, output."""

    def __init__(self, results, returncode, output):
        self.results, self.returncode, self.output = results, returncode, output

    def __getitem__(self, task_id):
        return self.results[task_id]


def module_task(task_id, module, connection, when=None, **options):
    """A task running cemu.moodle.<module>, registered as ``task_id``, errors ignored."""
    arguments = dict(connection)
    arguments.update(options)
    task = {'name': '%s %s' % (task_id, module), 'cemu.moodle.' + module: arguments, 'register': task_id,
            'ignore_errors': True}
    if when:
        task['when'] = when
    return task


def control_task(task_id, sim_url, operation, **arguments):
    """A task calling the simulator's control API (POST /_sim/<operation>) from inside the play."""
    return {'name': '%s simulator %s' % (task_id, operation), 'register': task_id,
            'ansible.builtin.uri': {'url': '%s/_sim/%s' % (sim_url, operation), 'method': 'POST',
                                    'body_format': 'json', 'body': arguments}}


def run_play(tasks, workdir=None, args=(), timeout=300):
    """Run ``tasks`` on localhost (connection local) in one ansible-playbook run; return a Play."""
    workdir = workdir or tempfile.mkdtemp(prefix='cemu-moodle-evidence-')
    os.makedirs(workdir, exist_ok=True)
    results_path = os.path.join(workdir, 'results.json')
    playbook_path = os.path.join(workdir, 'play.yml')
    with open(playbook_path, 'w') as handle:
        yaml.safe_dump([_play(tasks, results_path)], handle, sort_keys=False)
    command = [sys.executable, '-m', 'ansible.cli.playbook', '-i', 'localhost,', playbook_path] + list(args)
    completed = subprocess.run(command, env=play_env(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, universal_newlines=True, check=False)
    output = completed.stdout + completed.stderr
    if not os.path.exists(results_path):
        raise AssertionError('ansible-playbook wrote no results (rc %d):\n%s' % (completed.returncode, output[-4000:]))
    with open(results_path) as handle:
        return Play(json.load(handle), completed.returncode, output)


def play_env(workdir):
    """ansible-playbook's environment: this checkout as cemu.moodle, temp dirs inside ``workdir``."""
    return ansible_env({'ANSIBLE_LOCAL_TEMP': os.path.join(workdir, 'tmp'),
                        'ANSIBLE_HOME': os.path.join(workdir, 'home'),
                        'ANSIBLE_LOCALHOST_WARNING': '0', 'ANSIBLE_DEPRECATION_WARNINGS': '0',
                        'ANSIBLE_INVENTORY_ENABLED': 'host_list'})


def _play(tasks, results_path):
    ids = [t['register'] for t in tasks]
    collected = '{%s}' % ', '.join("'%s': %s | default({'skipped': true})" % (i, i) for i in ids)
    results = {'name': 'results', 'ansible.builtin.copy': {
        'content': '{{ %s | to_json }}' % collected, 'dest': results_path, 'mode': '0600'}}
    return {'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
            'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': list(tasks) + [results]}


# ----- what the simulator saw --------------------------------------------------------------
def is_write(function):
    """Whether a web-service function changes Moodle (every read the collection uses is a *_get_*)."""
    return bool(function) and '_get_' not in function


def write_calls(sim):
    """The simulator's logged calls of writing functions (answered or not)."""
    return [call for call in sim.calls() if is_write(call['function'])]


def course_view(sim, courseid):
    """The course as its users experience it: {username: {'enrolments': [...], 'roles': [...]}}.

    Enrolments are (method, status, timestart, timeend); roles (role, giver) where
    the giver is '' for a manual assignment or the enrolment method. Ids are left
    out, so two sites that reached the same state compare equal.
    """
    answer = sim.course_enrolments(courseid)
    methods = dict((i['id'], i['enrol']) for i in answer['instances'])
    view = {}
    for ue in answer['userenrolments']:
        user = view.setdefault(ue['username'], {'enrolments': [], 'roles': []})
        user['enrolments'].append((ue['enrol'], ue['status'], ue['timestart'], ue['timeend']))
    usernames = dict((ue['userid'], ue['username']) for ue in answer['userenrolments'])
    for ra in answer['roleassignments']:
        user = view.setdefault(usernames.get(ra['userid'], 'userid %d' % ra['userid']),
                               {'enrolments': [], 'roles': []})
        giver = methods.get(ra['itemid'], ra['component']) if ra['component'] else ''
        user['roles'].append((ra['roleshortname'], giver))
    for user in view.values():
        user['enrolments'].sort()
        user['roles'].sort()
    return view


def users_without_access(sim, courseid, usernames, now):
    """Of ``usernames``, those with no active manual enrolment holding a manual role in the course."""
    view = course_view(sim, courseid)
    lost = []
    for username in usernames:
        user = view.get(username, {'enrolments': [], 'roles': []})
        active = [e for e in user['enrolments']
                  if e[0] == 'manual' and e[1] == 0 and e[2] <= now and (e[3] == 0 or e[3] > now)]
        if not active or not any(giver == '' for _roleid, giver in user['roles']):
            lost.append(username)
    return sorted(lost)


# ----- the backup directory --------------------------------------------------------------
def tree_snapshot(root):
    """{relative path: (sha256 of content or 'dir', mode)} of everything below ``root``."""
    snapshot = {}
    if not os.path.exists(root):
        return snapshot
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(directory, name)
            snapshot[os.path.relpath(path, root)] = ('dir', stat.S_IMODE(os.stat(path).st_mode))
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            snapshot[os.path.relpath(path, root)] = (digest, stat.S_IMODE(os.stat(path).st_mode))
    return snapshot


def is_backup(path):
    """Whether ``path`` names a backup file (restore records share its name, in ``restores/``)."""
    name = os.path.basename(path)
    return (name.startswith('enrolments-') and name.endswith('.json')
            and os.path.basename(os.path.dirname(path)) != 'restores')


def backup_files(root):
    """Paths of every backup file below ``root``, sorted."""
    found = []
    for directory, _dirs, files in os.walk(root):
        found.extend(os.path.join(directory, n) for n in files)
    return sorted(p for p in found if is_backup(p))


def backup_problems(root, before=None):
    """What is wrong with the backups below ``root``: unparsable, not private, lost or changed since ``before``.

    ``before`` is an earlier tree_snapshot(root); every backup file in it must
    still be there, unchanged, and at most one new backup per course may have appeared.
    """
    problems = []
    now = tree_snapshot(root)
    for path, (digest, mode) in now.items():
        if digest == 'dir' and mode != PRIVATE_DIR:
            problems.append('directory %s has mode %o' % (path, mode))
        elif digest != 'dir' and mode != PRIVATE_FILE:
            problems.append('file %s has mode %o' % (path, mode))
    for path in backup_files(root):
        problems.extend(_unreadable_backup(path))
    if before is not None:
        old = dict((p, v) for p, v in before.items() if is_backup(p))
        problems.extend('backup %s lost or changed' % p for p, v in old.items() if now.get(p) != v)
        problems.extend(_too_many_new(root, set(old)))
    return problems


def _unreadable_backup(path):
    try:
        with open(path) as handle:
            document = json.load(handle)
    except ValueError as err:
        return ['backup %s does not parse: %s' % (path, err)]
    if document.get('format') != BACKUP_FORMAT or not isinstance(document.get('enrolments'), list):
        return ['backup %s is not a backup document' % path]
    return []


def _too_many_new(root, old_paths):
    per_course = {}
    for path in backup_files(root):
        relative = os.path.relpath(path, root)
        if relative not in old_paths:
            per_course.setdefault(os.path.dirname(relative), []).append(relative)
    return ['%s got %d new backups in one scenario' % (c, len(n)) for c, n in per_course.items() if len(n) > 1]


def load_json(path):
    with open(path) as handle:
        return json.load(handle)


def files_containing(root, secret):
    """Files below ``root`` whose bytes contain ``secret``."""
    found = []
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                if secret.encode() in handle.read():
                    found.append(path)
    return found
