# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input: every case fails with a message naming what is wrong, and writes nothing.

Each case has its own simulated Moodle (the demo fixture) and its own backup
directory, so "nothing written" is measured per case: the simulator logged no
call of a writing function, its state is unchanged, and the backup directory
is byte for byte and mode for mode what it was. All cases run as tasks of ONE
real ansible-playbook run (one start of Ansible for the whole file).
"""

import datetime
import json
import os
import shutil
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.backup_store import BackupStore, normalize_url
from ansible_collections.cemu.moodle.plugins.module_utils.plan import CourseState, backup_from_state
from tests.integration.evidence import module_task, run_play, tree_snapshot, write_calls
from tests.simulator import Simulator
from tests.unit.http_fixtures import write_self_signed_cert

TOKEN = 'bad-input-token-5b7c0e2d9a41'
WRONG_TOKEN = 'wrong-token-9f8e7d6c5b4a3210'
NEXT_YEAR = datetime.date.today().year + 1
END = '%d-06-30' % NEXT_YEAR
DB101, MIX301 = 'DB101', 'MIX301'          # demo fixture courses (ids 2 and 4)
MODULES_OWNER = 'H3 (plugins/modules argument specs)'


class Case:
    """One bad input: the module and options to run, what the message must name, its own site and backups."""

    def __init__(self, name, module, options, mentions, setup=None, connection=None, owner=None):
        self.name, self.module, self.options, self.mentions = name, module, options, mentions
        self.owner = owner
        self.setup, self.connection_overrides = setup, connection or {}
        self.sim = self.backup_dir = self.extra = None
        self.before = {}

    def prepare(self, root, servers):
        """Start the case's simulator, make its backups, run its set-up; remember what it holds."""
        self.sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
        self.backup_dir = os.path.join(root, self.name, 'backups')
        os.makedirs(self.backup_dir, mode=0o700)
        self.extra = {'sim': self.sim, 'backup_dir': self.backup_dir, 'servers': servers, 'root': root}
        if self.setup:
            self.extra.update(self.setup(self) or {})
        self.before = {'state': self.sim.dump_state(), 'backups': tree_snapshot(self.backup_dir),
                       'writes': len(write_calls(self.sim))}

    def task(self):
        connection = {'moodle_url': self.sim.url, 'moodle_token': TOKEN}
        connection.update(dict((k, v(self) if callable(v) else v) for k, v in self.connection_overrides.items()))
        options = dict((k, v(self) if callable(v) else v) for k, v in self.options.items())
        if self.module != 'moodle_set_enrol_end':
            options.setdefault('backup_dir', self.backup_dir)
        return module_task(self.task_id, self.module, connection, **options)

    @property
    def task_id(self):
        return 'case_' + self.name

    def mentions_for(self):
        return [m(self) if callable(m) else m for m in self.mentions]

    def writes(self):
        """Writes made: write calls Moodle received (at least 1 when its state changed anyway),
        plus backup-directory entries added, changed or removed."""
        calls = len(write_calls(self.sim)) - self.before['writes']
        if not calls and self.sim.dump_state() != self.before['state']:
            calls = 1
        changed = set(tree_snapshot(self.backup_dir).items()) ^ set(self.before['backups'].items())
        return calls + len(set(path for path, _change in changed))


# ----- set-ups -------------------------------------------------------------------------------
def course_id(sim, shortname):
    return next(c['id'] for c in sim.dump_state()['tables']['courses'] if c['shortname'] == shortname)


def write_backup(sim, shortname, backup_dir, site_url=None):
    """A genuine backup of a course, made with the collection's own backup code; return its path."""
    courseid = course_id(sim, shortname)
    state = CourseState.from_api(sim.course_enrolments(courseid))
    site = {'url': normalize_url(site_url or sim.url), 'release': '4.5 (Build: 20241007)', 'siteid': 1}
    document = backup_from_state(state, ['database', 'cohort'], site, '2026-08-20T10:00:00Z')
    store = BackupStore(backup_dir, site_url or sim.url, state.course)
    return store.write_backup(document, datetime.datetime.now(datetime.timezone.utc))


def backup_of_mix301(case):
    return {'backup': write_backup(case.sim, MIX301, case.backup_dir)}


def colliding_courses(case):
    """Course 'AMB-A' has idnumber 'AMBIGUOUS'; course 'AMBIGUOUS' is another course."""
    return {'ids': [case.sim.add_course('AMB-A', idnumber='AMBIGUOUS'), case.sim.add_course('AMBIGUOUS')]}


def late_starter(case):
    """A student of DB101 whose manual enrolment starts in the year after END; active through the database,
    so step 3 selects the user (the Participants page lists users with an active enrolment by any method)."""
    userid = case.sim.add_user('latestarter')
    start = int(datetime.datetime(NEXT_YEAR + 1, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
    courseid = course_id(case.sim, DB101)
    case.sim.enrol(case.sim.manual_instance(courseid)['id'], userid, timestart=start)
    database = next(i['id'] for i in case.sim.course_enrolments(courseid)['instances'] if i['enrol'] == 'database')
    case.sim.enrol(database, userid)


def corrupted_newest_backup(case):
    """A good backup, then a newer one cut in half (as a full disk would leave it)."""
    good = write_backup(case.sim, MIX301, case.backup_dir)
    corrupted = os.path.join(os.path.dirname(good), 'enrolments-29991231T235959.000000Z.json')
    with open(good) as source:
        text = source.read()
    fd = os.open(corrupted, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text[:len(text) // 2])
    return {'backup': corrupted}


def foreign_json(case):
    path = os.path.join(case.extra['root'], case.name, 'package.json')
    with open(path, 'w') as handle:
        json.dump({'name': 'my-app', 'version': '3.0.0', 'enrolments': []}, handle)
    return {'backup': path}


def backup_of_db101(case):
    return {'backup': write_backup(case.sim, DB101, case.backup_dir)}


def backup_of_other_site(case):
    return {'backup': write_backup(case.sim, MIX301, case.backup_dir, site_url='https://moodle.other.example')}


def restored_mix301(case):
    """A backup of MIX301 and a restore of one user (manual enrolment + role, recorded): an undo has work to do."""
    path = write_backup(case.sim, MIX301, case.backup_dir)
    courseid = course_id(case.sim, MIX301)
    userid = next(u['id'] for u in case.sim.dump_state()['tables']['users'] if u['username'] == 'student0024')
    case.sim.enrol(case.sim.manual_instance(courseid)['id'], userid)
    store = BackupStore(case.backup_dir, case.sim.url, {'id': courseid, 'shortname': MIX301})
    store.save_record(path, {'created_enrolments': [userid], 'updated_enrolments': [],
                             'assigned_roles': [{'userid': userid, 'roleid': 5}]})
    return {'backup': path}


def extra(key):
    return lambda case: case.extra[key]


def server_url(key):
    return lambda case: case.extra['servers'][key]


def basename_of(key):
    return lambda case: os.path.basename(case.extra[key])


CASES = [
    Case('unknown_course', 'moodle_backup_enrolments', {'course': 'NOSUCH999'}, ['NOSUCH999', 'not found']),
    Case('ambiguous_course', 'moodle_set_enrol_end', {'course': 'AMBIGUOUS', 'end': END},
         ['AMBIGUOUS', 'course_by', lambda c: str(c.extra['ids'][0]), lambda c: str(c.extra['ids'][1])],
         setup=colliding_courses),
    Case('malformed_end_date', 'moodle_set_enrol_end', {'course': DB101, 'end': '%d-02-30' % NEXT_YEAR},
         ['end', '%d-02-30' % NEXT_YEAR]),
    Case('unknown_timezone', 'moodle_set_enrol_end', {'course': DB101, 'end': END, 'timezone': 'Mars/Olympus'},
         ['timezone', 'Mars/Olympus']),
    Case('past_end_date', 'moodle_set_enrol_end', {'course': DB101, 'end': '2020-06-30'},
         ['end', '2020-06-30', 'allow_past']),
    Case('end_before_start', 'moodle_set_enrol_end', {'course': DB101, 'end': END},
         ['end', 'latestarter', DB101], setup=late_starter),
    Case('unknown_role_set_end', 'moodle_set_enrol_end', {'course': DB101, 'end': END, 'roles': ['nosuchrole']},
         ['nosuchrole', 'roles']),
    Case('unknown_role_restore', 'moodle_restore_manual', {'course': MIX301, 'roles': ['nosuchrole']},
         ['nosuchrole', MIX301], setup=backup_of_mix301),
    Case('empty_token', 'moodle_backup_enrolments', {'course': DB101}, ['moodle_token'],
         connection={'moodle_token': ''}),
    Case('wrong_token', 'moodle_backup_enrolments', {'course': DB101}, ['token'],
         connection={'moodle_token': WRONG_TOKEN}),
    Case('url_without_scheme', 'moodle_backup_enrolments', {'course': DB101}, ['moodle_url', 'https://'],
         connection={'moodle_url': lambda c: '127.0.0.1:%d' % c.sim.port}),
    Case('url_not_moodle', 'moodle_backup_enrolments', {'course': DB101}, ['moodle', server_url('plain')],
         connection={'moodle_url': server_url('plain')}),
    Case('certificate_not_verified', 'moodle_backup_enrolments', {'course': DB101}, ['certificate'],
         connection={'moodle_url': server_url('tls')}),
    Case('corrupted_backup', 'moodle_restore_manual', {'course': MIX301}, [basename_of('backup'), 'damaged'],
         setup=corrupted_newest_backup),
    Case('foreign_json_backup', 'moodle_restore_manual', {'course': MIX301, 'backup_file': extra('backup')},
         ['package.json', 'not a cemu.moodle enrolment backup'], setup=foreign_json),
    Case('backup_of_another_course', 'moodle_restore_manual', {'course': MIX301, 'backup_file': extra('backup')},
         [basename_of('backup'), DB101, MIX301], setup=backup_of_db101),
    Case('backup_of_another_site', 'moodle_restore_manual', {'course': MIX301, 'backup_file': extra('backup')},
         [basename_of('backup'), 'moodle.other.example'], setup=backup_of_other_site),
    Case('jmespath_restore', 'moodle_restore_manual', {'course': MIX301, 'query': "[?enrol == 'cohort'"},
         ['query', "[?enrol == 'cohort'"], setup=backup_of_mix301),
    Case('jmespath_set_end', 'moodle_set_enrol_end', {'course': DB101, 'end': END, 'query': '[?status =='},
         ['query', '[?status ==']),
    # Options that contradict each other, or select nothing. The modules' argument specs (plugins/modules)
    # declared no such rule when these cases were written: they fail until the modules refuse them.
    Case('undo_with_send_welcome', 'moodle_restore_manual',
         {'course': MIX301, 'state': 'absent', 'send_welcome': True}, ['state', 'send_welcome'],
         setup=restored_mix301, owner=MODULES_OWNER),
    Case('undo_with_query', 'moodle_restore_manual',
         {'course': MIX301, 'state': 'absent', 'query': "[?enrol == 'cohort']"}, ['state', 'query'],
         setup=restored_mix301, owner=MODULES_OWNER),
    Case('undo_with_create_instance', 'moodle_restore_manual',
         {'course': MIX301, 'state': 'absent', 'create_manual_instance': True}, ['state', 'create_manual_instance'],
         setup=restored_mix301, owner=MODULES_OWNER),
    Case('backup_of_no_method', 'moodle_backup_enrolments', {'course': DB101, 'methods': []}, ['methods'],
         owner=MODULES_OWNER),
]


# ----- servers that are not Moodle ------------------------------------------------------------
class NotMoodleHandler(BaseHTTPRequestHandler):
    """Any web server: 404 with an HTML page for everything."""

    def _answer(self):
        body = b'<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>'
        self.send_response(404)
        self.send_header('Content-Type', 'text/html')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def serve(handler, tls_files=None):
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    if tls_files:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture(scope='module')
def outcome(tmp_path_factory):
    """Every case prepared, ONE ansible-playbook run, then per case: result and writes."""
    root = str(tmp_path_factory.mktemp('bad_input'))
    plain = serve(NotMoodleHandler)
    tls_requests = []

    class CountingHandler(NotMoodleHandler):
        def _answer(self):
            tls_requests.append(self.path)
            NotMoodleHandler._answer(self)
        do_GET = do_POST = _answer

    tls = serve(CountingHandler, write_self_signed_cert(root))
    servers = {'plain': 'http://127.0.0.1:%d' % plain.server_address[1],
               'tls': 'https://127.0.0.1:%d' % tls.server_address[1]}
    try:
        for case in CASES:
            case.prepare(root, servers)
        play = run_play([case.task() for case in CASES], workdir=root)
        yield {'play': play, 'tls_requests': tls_requests,
               'cases': dict((case.name, {'case': case, 'result': play[case.task_id], 'writes': case.writes(),
                                          'state_unchanged': case.sim.dump_state() == case.before['state']})
                             for case in CASES)}
    finally:
        for case in CASES:
            if case.sim:
                case.sim.stop()
        for server in (plain, tls):
            server.shutdown()
            server.server_close()
        shutil.rmtree(root, ignore_errors=True)


def clarity_problems(case, result):
    """Why the failure message is not clear: not failed, a crash, a missing name, a token shown."""
    if not result.get('failed'):
        return ['the module did not fail: %s' % json.dumps(result)[:300]]
    message = str(result.get('msg', ''))
    problems = ['message does not name %r' % m for m in case.mentions_for() if m.lower() not in message.lower()]
    if 'Traceback' in message or 'MODULE FAILURE' in message:
        problems.append('the module crashed')
    if TOKEN in json.dumps(result) or WRONG_TOKEN in json.dumps(result):
        problems.append('the result shows a token')
    return problems


@pytest.mark.parametrize('name', [case.name for case in CASES])
def test_bad_input_fails_clearly_and_writes_nothing(outcome, evidence, name):
    seen = outcome['cases'][name]
    case, result = seen['case'], seen['result']
    problems = clarity_problems(case, result)
    writes = seen['writes']
    evidence.bad_input(name, clear=not problems, writes=writes)
    owner = ' [to fix: %s]' % case.owner if case.owner else ''
    assert not problems, '%s%s: %s\nmessage: %s' % (name, owner, '; '.join(problems), result.get('msg'))
    assert seen['state_unchanged'], '%s changed the simulated Moodle' % name
    assert writes == 0, '%s wrote %d times (Moodle calls or backup files)' % (name, writes)


def test_no_request_reaches_a_server_whose_certificate_does_not_verify(outcome):
    assert outcome['cases']['certificate_not_verified']['result'].get('failed')
    assert outcome['tls_requests'] == [], 'the request was sent although the certificate did not verify'
