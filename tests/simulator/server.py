# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's HTTP server: Moodle's REST endpoint, the /_sim/ control API, faults."""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import fixtures, functions_history, functions_keepaccess
# Importing functions_core registers its web-service functions.
from . import functions_core  # noqa: F401  # pylint: disable=unused-import
from .protocol import (MoodleException, invalid_parameter, json_answer, json_error, missing_record, parse_fields,
                       php_arrays, validate_parameters, xml_answer, xml_error)
from .registry import (IMPLEMENTED, KEEP_ACCESS_SERVICE, RECORDED_SERVICE, CallContext, Token, function_exists,
                       not_implemented)
from .state import State

REST_PATH = '/webservice/rest/server.php'
CONTROL_PREFIX = '/_sim/'
FAULT_KINDS = ('slow', 'drop_before', 'drop_after', 'revoke_token')
DROP_ACTIONS = {'database': ('unenrol', 'keep', 'suspend', 'suspendnoroles'), 'cohort': ('unenrol', 'suspendnoroles')}
INSTANCE_FIELDS = ('status', 'roleid', 'customint1', 'name', 'sortorder')
# How long reset() and load_state() wait for REST calls still running (a slow fault's client may have given up).
DRAIN_SECONDS = 30


class SimulatorBusy(RuntimeError):
    """REST calls were still running when the site was to be rebuilt."""


class Fault:
    """One injected fault: fires on matching REST calls after `after` of them, `count` times (None: always)."""

    def __init__(self, kind, function=None, after=0, count=1, seconds=0.0):
        if kind not in FAULT_KINDS and not (kind.startswith('http') and kind[4:].isdigit()):
            raise ValueError('fault kind must be httpNNN or one of %s' % ', '.join(FAULT_KINDS))
        self.kind, self.function, self.after, self.count, self.seconds = kind, function, after, count, seconds

    def take(self, function):
        """Whether this fault fires for a call of `function` (and count it)."""
        if self.function is not None and self.function != function:
            return False
        if self.after > 0:
            self.after -= 1
            return False
        if self.count is not None:
            self.count -= 1
        return True

    def describe(self):
        """JSON-ready description."""
        return {'kind': self.kind, 'function': self.function, 'after': self.after, 'count': self.count,
                'seconds': self.seconds}


class SimulatorHTTPServer(ThreadingHTTPServer):
    """One thread per connection; a listen backlog for many parallel clients (the default 5 makes a burst of
    connections wait for SYN retransmits, seconds on a loaded machine)."""

    request_queue_size = 128
    daemon_threads = True
    block_on_close = False


class RestOutcome:
    """What the HTTP layer does with a REST call: answer (status, type, text) or drop the connection."""

    def __init__(self, status=200, content_type='application/json', text='', drop=False):
        self.status, self.content_type, self.text, self.drop = status, content_type, text, drop


def invalid_token():
    """Moodle's answer to an unknown, revoked or missing token."""
    return MoodleException('moodle', 'invalidtoken', 'Invalid token - token not found')


def rows_in(params):
    """Number of rows of the call's first list parameter (0 when it has none)."""
    for value in params.values():
        if isinstance(value, dict):
            return len(value)
    return 0


class Simulator:
    """An in-memory Moodle speaking REST over real HTTP on 127.0.0.1 (tests and demo only).

    ``Simulator(version='4.5', fixture='demo', token=...)``; ``start()``; ``url``; ``stop()``.
    Every REST call runs under one lock and in one transaction.
    """

    def __init__(self, version='4.5', fixture='demo', token=None, port=0, max_input_vars=5000, functions=None,
                 **fixture_options):
        self.token = token or secrets.token_hex(16)
        self.port = port
        self.max_input_vars = max_input_vars
        self._functions = functions
        self._lock = threading.RLock()
        # Notified when a REST call ends or is logged: reset() waits for running calls, tests for logged ones.
        self._rest_changed = threading.Condition(self._lock)
        self._rest_running = 0
        self._httpd = None
        self._thread = None
        self.state = None
        self.fixture = None
        self.tokens = {}
        self.faults = []
        self.call_log = []
        self.reset(fixture, version, **fixture_options)

    # ----- life cycle -----------------------------------------------------------
    def start(self):
        """Listen on 127.0.0.1 (port 0 = any free port) in a background thread; return self."""
        self._httpd = SimulatorHTTPServer(('127.0.0.1', self.port), RestHandler)
        self._httpd.simulator = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name='moodle-simulator', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop listening."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        """The site URL, e.g. http://127.0.0.1:8765."""
        return 'http://127.0.0.1:%d' % self.port

    # ----- control operations (Python API; the same under /_sim/) ------------------------
    def reset(self, fixture='demo', version=None, **options):
        """Rebuild the site from a fixture; the token is valid again, faults and logs are cleared.

        REST calls still running finish first (on the old site, logged in the old log), so the new site
        starts clean; SimulatorBusy when they take longer than DRAIN_SECONDS.
        """
        with self._lock:
            self._drain_rest_calls()
            version = version or (self.state.version if self.state else '4.5')
            self.state = fixtures.build(fixture, version, **options)
            self.fixture = fixture
            functions = self._functions or (RECORDED_SERVICE if fixture == 'recorded' else KEEP_ACCESS_SERVICE)
            self.tokens = {self.token: Token(self.token, functions=functions)}
            self.faults = []
            self.call_log = []
            return {'fixture': fixture, 'version': version}

    def dump_state(self):
        """The whole Moodle state as JSON-ready data."""
        with self._lock:
            return self.state.dump()

    def load_state(self, state):
        """Replace the Moodle state with dump_state() output (after the REST calls still running, as reset)."""
        with self._lock:
            self._drain_rest_calls()
            self.state = State.load(state)

    def configure(self, max_input_vars=None):
        """Change server settings (PHP max_input_vars)."""
        with self._lock:
            if max_input_vars is not None:
                self.max_input_vars = int(max_input_vars)
            return {'max_input_vars': self.max_input_vars}

    def add_token(self, token, userid=2, functions=None, missing_capabilities=()):
        """Add a token (service = functions, default the fixture's) lacking some capabilities."""
        with self._lock:
            functions = functions if functions is not None else self.tokens[self.token].functions
            self.tokens[token] = Token(token, userid, functions, missing_capabilities)

    def add_service_token(self, token, assignable_roles=None):
        """A token of the least-privilege service user (what local_keepaccess's create_service_user.php makes:
        user, role and allowed role assignments, created when the fixture lacks them) on the keep_access
        service; return the user id. Unlike the admin's, this token cannot assign roles such as manager,
        and course answers leave out the fields that need moodle/course:update."""
        with self._lock:
            userid = fixtures.add_service_user(self.state, assignable_roles)
            self.tokens[token] = Token(token, userid, KEEP_ACCESS_SERVICE)
            return userid

    def set_enrol_plugin_enabled(self, enrol, enabled=True):
        """Enable or disable an enrolment plugin site-wide ($CFG->enrol_plugins_enabled)."""
        with self._lock:
            plugins = [name for name in self.state.site['enrol_plugins_enabled'] if name != enrol]
            self.state.site['enrol_plugins_enabled'] = plugins + [enrol] if enabled else plugins
            return list(self.state.site['enrol_plugins_enabled'])

    def revoke_token(self, token=None):
        """Make a token (default the main one) invalid."""
        with self._lock:
            self.tokens[token or self.token].valid = False

    def token_info(self):
        """Tokens without their values: [{userid, functions, missing_capabilities, valid}]."""
        with self._lock:
            return [t.describe() for t in self.tokens.values()]

    def add_user(self, username, **fields):
        """Create a user; return its id."""
        with self._lock:
            return fixtures.add_user(self.state, username, **fields)

    def add_category(self, name, **fields):
        """Create a category; return its id."""
        with self._lock:
            return fixtures.add_category(self.state, name, **fields)

    def add_course(self, shortname, **fields):
        """Create a course without enrol instances; return its id."""
        with self._lock:
            return fixtures.add_course(self.state, shortname, **fields)

    def add_instance(self, courseid, enrol, **fields):
        """Add an enrol instance to a course; return its id."""
        with self._lock:
            return fixtures.add_instance(self.state, courseid, enrol, **fields)

    def update_instance(self, instanceid, **fields):
        """Change an instance's status, roleid, customint1, name or sortorder."""
        with self._lock:
            unknown = set(fields) - set(INSTANCE_FIELDS)
            if unknown:
                raise ValueError('unknown instance fields: %s' % ', '.join(sorted(unknown)))
            self.state.update('instances', instanceid, **fields)

    def enrol(self, instanceid, userid, roleid=None, status=0, timestart=0, timeend=0):
        """Enrol a user through an instance as its plugin would; return the user_enrolments id."""
        with self._lock:
            return fixtures.enrol(self.state, instanceid, userid, roleid, status, timestart, timeend)

    def assign_role(self, courseid, userid, roleid, component='', itemid=0):
        """Add a course role assignment; return its id."""
        with self._lock:
            return self.state.role_assign(roleid, userid, courseid, component, itemid)[0]

    def assign_category_role(self, categoryid, userid, roleid):
        """Add a role assignment in a category's context (it applies in the category's courses); return its id."""
        with self._lock:
            if categoryid not in self.state.tables['categories']:
                raise ValueError('category %s does not exist' % categoryid)
            return self.state.assign_category_role(categoryid, userid, roleid)

    def add_cohort(self, name, idnumber='', members=()):
        """Create a cohort; return its id."""
        with self._lock:
            return fixtures.add_cohort(self.state, name, idnumber, members)

    def add_cohort_members(self, cohortid, userids):
        """Add members to a cohort and enrol them where the cohort is synced (like enrol_cohort's observer)."""
        with self._lock:
            for userid in userids:
                self.state.set_cohort_member(cohortid, userid, True)
            for instance in list(self.state.tables['instances'].values()):
                if instance['enrol'] == 'cohort' and instance['customint1'] == cohortid:
                    fixtures.sync_cohort_instance(self.state, instance['id'])

    def set_user_flags(self, userid, deleted=None, suspended=None, confirmed=None):
        """Set mdl_user flags directly (like the recordings' SQL); enrolments stay."""
        with self._lock:
            flags = {k: int(v) for k, v in (('deleted', deleted), ('suspended', suspended), ('confirmed', confirmed))
                     if v is not None}
            self.state.update('users', userid, **flags)

    def delete_course(self, courseid):
        """Delete a course with its instances, enrolments and role assignments."""
        with self._lock:
            state = self.state
            for ue in state.course_user_enrolments(courseid):
                state.delete('user_enrolments', ue['id'])
            for raids in list(state.ra_by_course.get(courseid, {}).values()):
                for raid in list(raids):
                    state.delete('role_assignments', raid)
            for instance in state.instances_of(courseid):
                state.delete('instances', instance['id'])
            state.delete('courses', courseid)

    def drop_from_source(self, courseid, method, userids=None, action='unenrol'):
        """The external source drops users (default: all of the method's users in the course).

        database: action = enrol_database's unenrolaction (unenrol, keep, suspend, suspendnoroles).
        cohort: the users leave the cohort; every course syncing that cohort applies the action
        (unenrol or suspendnoroles), as enrol_cohort's observer does at once.
        Return the affected user ids.
        """
        if action not in DROP_ACTIONS.get(method, ()):
            raise ValueError('%s supports actions %s' % (method, ', '.join(DROP_ACTIONS.get(method, ('none',)))))
        with self._lock, self.state.transaction():
            instances = [i for i in self.state.instances_of(courseid) if i['enrol'] == method]
            if method == 'cohort':
                instances = self._leave_cohorts(instances, userids)
            affected = set()
            for instance in instances:
                users = list(self.state.ue_by_instance[instance['id']]) if userids is None else userids
                for userid in users:
                    if self._drop_user(instance, userid, action):
                        affected.add(userid)
            return sorted(affected)

    def _leave_cohorts(self, instances, userids):
        """Remove the users from the instances' cohorts; return every instance syncing those cohorts."""
        cohortids = {i['customint1'] for i in instances}
        for cohortid in cohortids:
            for userid in list(self.state.cohort_members[cohortid] if userids is None else userids):
                self.state.set_cohort_member(cohortid, userid, False)
        return [i for i in self.state.tables['instances'].values()
                if i['enrol'] == 'cohort' and i['customint1'] in cohortids]

    def _drop_user(self, instance, userid, action):
        state = self.state
        ue = state.user_enrolment(instance['id'], userid)
        if ue is None or action == 'keep':
            return False
        if action == 'unenrol':
            return state.unenrol_user(instance, userid)
        if ue['status'] != 1:
            state.update_user_enrol(ue, status=1)
        if action == 'suspendnoroles':
            state.role_unassign_all(userid, instance['courseid'], component='enrol_' + instance['enrol'],
                                    itemid=instance['id'])
        return True

    def fault(self, kind, function=None, after=0, count=1, seconds=0.0):
        """Inject a fault for REST calls (function None = any): httpNNN, slow, drop_before, drop_after, revoke_token."""
        with self._lock:
            self.faults.append(Fault(kind, function, after, count, seconds))

    def wait_until_idle(self, timeout=DRAIN_SECONDS):
        """Wait until no REST call is running (e.g. one whose client timed out); return whether none is."""
        with self._lock:
            return self._rest_changed.wait_for(lambda: self._rest_running == 0, timeout)

    def wait_for_calls(self, count, function=None, timeout=DRAIN_SECONDS):
        """Wait until `count` REST calls (of `function`, None: any) are logged; return calls().

        TimeoutError after `timeout` seconds.
        """
        def logged():
            return len([c for c in self.call_log if function is None or c['function'] == function]) >= count
        with self._lock:
            if not self._rest_changed.wait_for(logged, timeout):
                raise TimeoutError('%d call(s) of %s not logged within %s s; logged: %s'
                                   % (count, function or 'any function', timeout, self.call_log))
            return list(self.call_log)

    def _drain_rest_calls(self):
        """With the lock held: let the REST calls still running finish (the wait releases the lock)."""
        if not self._rest_changed.wait_for(lambda: self._rest_running == 0, DRAIN_SECONDS):
            raise SimulatorBusy('%d REST call(s) still running after %d s' % (self._rest_running, DRAIN_SECONDS))

    def clear_faults(self):
        """Remove every pending fault."""
        with self._lock:
            self.faults = []

    def shift_clock(self, seconds):
        """Move the simulated site's clock (time() of the plugin's claims and history) by some seconds."""
        with self._lock:
            self.state.site['clock_offset'] = int(self.state.site.get('clock_offset', 0)) + int(seconds)
            return self.state.now()

    def history(self, courseid=None):
        """local_keepaccess's history rows (of one course), oldest first."""
        with self._lock:
            rows = sorted(self.state.tables['keepaccess_history'].values(), key=lambda row: row['id'])
            return [dict(row) for row in rows if courseid is None or row['courseid'] == int(courseid)]

    def leases(self):
        """local_keepaccess's course claims (ended ones included until the task removes them)."""
        with self._lock:
            return [dict(lease) for lease in self.state.tables['keepaccess_lease'].values()]

    def run_purge_task(self, retention=functions_history.DEFAULT_RETENTION):
        """local_keepaccess's scheduled task purge_history with the retention setting given (0 = for ever)."""
        with self._lock, self.state.transaction():
            return {'records': functions_history.purge_history(self.state, int(retention)),
                    'leases': functions_history.purge_expired_leases(self.state)}

    def messages(self):
        """Welcome messages sent so far: [{courseid, userid, instanceid, fromuserid, source}]."""
        with self._lock:
            return list(self.state.messages)

    def calls(self):
        """REST calls so far: [{function, rows, errorcode, fault}] (never the token)."""
        with self._lock:
            return list(self.call_log)

    def course_enrolments(self, courseid):
        """The course's instances, user enrolments and role assignments (local_keepaccess's answer, one page)."""
        with self._lock:
            if self.state.course(courseid) is None:
                raise ValueError('course %s does not exist' % courseid)
            return functions_keepaccess.course_enrolments(self.state, courseid)

    def manual_instance(self, courseid):
        """The course's first enabled manual instance (or None)."""
        with self._lock:
            instance = self.state.first_manual_instance(courseid)
            return dict(instance) if instance else None

    # ----- REST ------------------------------------------------------------------
    def handle_rest(self, http_method, query, body, content_type):
        """Answer one REST call as Moodle would, applying any faults due; reset() waits for it."""
        with self._lock:
            self._rest_running += 1
        try:
            return self._answer_rest(http_method, query, body, content_type)
        finally:
            with self._lock:
                self._rest_running -= 1
                self._rest_changed.notify_all()

    def _answer_rest(self, http_method, query, body, content_type):
        fields = parse_fields(query, self.max_input_vars)
        get_params = php_arrays(fields)
        post_params = {}
        if http_method == 'POST' and content_type.startswith('application/x-www-form-urlencoded'):
            post_params = php_arrays(parse_fields(body.decode('utf-8', 'replace'), self.max_input_vars))
        params = dict(get_params, **post_params)
        function = params.get('wsfunction') if isinstance(params.get('wsfunction'), str) else None
        with self._lock:
            due = [f for f in self.faults if f.take(function)]
            self.faults = [f for f in self.faults if f.count is None or f.count > 0]
        return self._run_with_faults(due, function, params)

    def _run_with_faults(self, due, function, params):
        kinds = {f.kind: f for f in due}
        if 'slow' in kinds:
            time.sleep(kinds['slow'].seconds)
        for kind in kinds:
            if kind.startswith('http'):
                self._log(function, params, None, kind)
                return RestOutcome(int(kind[4:]), 'text/html', '<h1>%s Server Error (simulated)</h1>' % kind[4:])
        if 'drop_before' in kinds:
            self._log(function, params, None, 'drop_before')
            return RestOutcome(drop=True)
        with self._lock:
            outcome, token = self._execute(function, params)
            if 'revoke_token' in kinds and token is not None:
                token.valid = False
            if 'drop_after' in kinds:
                self.call_log[-1]['fault'] = 'drop_after'
                return RestOutcome(drop=True)
        return outcome

    def _execute(self, function, params):
        """Run the call in one transaction; return (outcome, token used)."""
        params = dict(params)
        as_json = params.pop('moodlewsrestformat', None) == 'json'
        token_value = params.pop('wstoken', None)
        token = self.tokens.get(token_value) if isinstance(token_value, str) else None
        params.pop('wsfunction', None)
        try:
            if token is None or not token.valid:
                token = None
                raise invalid_token()
            wsfunction = self._function_for(token, function)
            cleaned = validate_parameters(wsfunction.params, params)
            with self.state.transaction():
                result = wsfunction.handler(CallContext(self.state, token, self.url), **cleaned)
        except MoodleException as error:
            self._log(function, params, error.errorcode or error.exception, None)
            text = json_error(error) if as_json else xml_error(error)
            return RestOutcome(200, 'application/json' if as_json else 'application/xml; charset=utf-8', text), token
        self._log(function, params, None, None)
        if as_json:
            return RestOutcome(200, 'application/json', json_answer(result)), token
        return RestOutcome(200, 'application/xml; charset=utf-8', xml_answer(result)), token

    @staticmethod
    def _function_for(token, function):
        if not function:
            raise invalid_parameter()
        if not function_exists(function):
            raise missing_record('external_functions')
        if function not in token.functions:
            raise MoodleException('webservice_access', 'accessexception', 'Access control exception')
        if function not in IMPLEMENTED:
            raise not_implemented(function)
        return IMPLEMENTED[function]

    def _log(self, function, params, errorcode, fault):
        with self._lock:
            self.call_log.append({'function': function, 'rows': rows_in(params), 'errorcode': errorcode,
                                  'fault': fault})
            self._rest_changed.notify_all()


# ----- HTTP ---------------------------------------------------------------------------
CONTROL_OPS = {
    ('GET', 'state'): 'dump_state', ('POST', 'state'): 'load_state', ('POST', 'reset'): 'reset',
    ('POST', 'configure'): 'configure', ('GET', 'tokens'): 'token_info', ('POST', 'tokens'): 'add_token',
    ('POST', 'revoke_token'): 'revoke_token', ('POST', 'add_user'): 'add_user',
    ('POST', 'add_category'): 'add_category', ('POST', 'add_course'): 'add_course',
    ('POST', 'add_instance'): 'add_instance', ('POST', 'update_instance'): 'update_instance',
    ('POST', 'enrol'): 'enrol', ('POST', 'assign_role'): 'assign_role', ('POST', 'add_cohort'): 'add_cohort',
    ('POST', 'assign_category_role'): 'assign_category_role',
    ('POST', 'add_cohort_members'): 'add_cohort_members', ('POST', 'set_user_flags'): 'set_user_flags',
    ('POST', 'delete_course'): 'delete_course', ('POST', 'drop_from_source'): 'drop_from_source',
    ('POST', 'fault'): 'fault', ('POST', 'clear_faults'): 'clear_faults', ('GET', 'messages'): 'messages',
    ('GET', 'calls'): 'calls', ('GET', 'course_enrolments'): 'course_enrolments',
    ('GET', 'manual_instance'): 'manual_instance', ('POST', 'service_token'): 'add_service_token',
    ('POST', 'set_enrol_plugin_enabled'): 'set_enrol_plugin_enabled',
    ('POST', 'shift_clock'): 'shift_clock', ('GET', 'history'): 'history', ('GET', 'leases'): 'leases',
    ('POST', 'run_purge_task'): 'run_purge_task',
    ('POST', 'wait_until_idle'): 'wait_until_idle', ('POST', 'wait_for_calls'): 'wait_for_calls',
}


def query_kwargs(query):
    """GET control arguments: digits become ints."""
    return {k: int(v) if v.isdigit() else v for k, v in parse_qsl(query)}


class RestHandler(BaseHTTPRequestHandler):
    """Routes /webservice/rest/server.php to Moodle and /_sim/ to the control API."""

    protocol_version = 'HTTP/1.1'
    server_version = 'MoodleSimulator/1'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Quiet: no per-request lines on stderr."""

    def do_GET(self):  # pylint: disable=invalid-name
        """GET."""
        self._dispatch('GET')

    def do_POST(self):  # pylint: disable=invalid-name
        """POST."""
        self._dispatch('POST')

    def do_PUT(self):  # pylint: disable=invalid-name
        """PUT (PHP parses no body: Moodle sees no fields)."""
        self._dispatch('PUT')

    def _dispatch(self, method):
        url = urlsplit(self.path)
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        simulator = self.server.simulator
        if url.path.startswith(CONTROL_PREFIX):
            self._control(simulator, method, url.path[len(CONTROL_PREFIX):], url.query, body)
            return
        if url.path != REST_PATH:
            self._send(404, 'text/plain', 'not found')
            return
        outcome = simulator.handle_rest(method, url.query, body, self.headers.get('Content-Type', ''))
        if outcome.drop:
            self.close_connection = True
            return
        self._send(outcome.status, outcome.content_type, outcome.text)

    def _control(self, simulator, method, name, query, body):
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            self._send(403, 'application/json', json.dumps({'error': 'control API is loopback only'}))
            return
        operation = CONTROL_OPS.get((method, name))
        if operation is None:
            self._send(404, 'application/json', json.dumps({'error': 'no control operation %s %s' % (method, name)}))
            return
        try:
            kwargs = query_kwargs(query) if method == 'GET' else (json.loads(body or b'{}'))
            result = getattr(simulator, operation)(**kwargs)
        except (SimulatorBusy, TimeoutError) as error:
            self._send(409, 'application/json', json.dumps({'error': '%s: %s' % (type(error).__name__, error)}))
            return
        except (ValueError, TypeError, KeyError) as error:
            self._send(400, 'application/json', json.dumps({'error': '%s: %s' % (type(error).__name__, error)}))
            return
        self._send(200, 'application/json', json.dumps({'result': result}))

    def _send(self, status, content_type, text):
        data = text.encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True     # the client gave up (its timeout): nobody to answer
