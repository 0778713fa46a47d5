# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small real HTTP(S) server that answers like Moodle's REST endpoint.

Tests register Python handlers per web-service function; the server records
every request (method, path, form fields in the order received), can cut the
form like PHP's ``max_input_vars`` does, and can serve TLS with a self-signed
certificate. It is not a Moodle simulator (that is ``tests.simulator``): it
answers only what a test tells it to.
"""

import datetime
import ipaddress
import json
import os
import secrets
import socket
import ssl
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

REST_PATH = '/webservice/rest/server.php'
XML_INVALID_TOKEN = ('<?xml version="1.0" encoding="UTF-8" ?>\n'
                     '<EXCEPTION class="core\\exception\\moodle_exception">\n'
                     '<ERRORCODE>invalidtoken</ERRORCODE>\n'
                     '<MESSAGE>Invalid token - token not found</MESSAGE>\n</EXCEPTION>\n')


class Raw:
    """An exact answer: body text, HTTP status, content type, optional delay and headers."""

    def __init__(self, body='', status=200, content_type='application/json; charset=utf-8',
                 delay=0.0, headers=None):
        self.body = body
        self.status = status
        self.content_type = content_type
        self.delay = delay
        self.headers = headers or {}


def moodle_exception(errorcode, message, exception='core\\exception\\moodle_exception', debuginfo=None):
    """Moodle's JSON error body (HTTP 200)."""
    body = {'exception': exception, 'errorcode': errorcode, 'message': message}
    if debuginfo is not None:
        body['debuginfo'] = debuginfo
    return Raw(json.dumps(body))


def decode_fields(fields):
    """PHP bracket form fields -> nested dicts/lists, as PHP builds $_POST."""
    root = {}
    for key, value in fields:
        path = _bracket_path(key)
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _lists_from_indexed(root)


def _bracket_path(key):
    if '[' not in key:
        return [key]
    head, rest = key.split('[', 1)
    return [head] + rest.rstrip(']').split('][')


def _lists_from_indexed(node):
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_indexed(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


class StubMoodle:
    """Real HTTP server on 127.0.0.1 with per-function Python handlers.

    A handler gets the decoded parameters (dict, as PHP sees them) and returns
    a JSON-able result or a :class:`Raw`. ``queue(function, *answers)`` answers
    the next calls in turn before falling back to the handler.
    """

    def __init__(self, token=None, max_input_vars=None, tls_files=None):
        self.token = token or secrets.token_hex(16)
        self.max_input_vars = max_input_vars
        self.handlers = {}
        self.queued = {}
        self.requests = []
        self._lock = threading.Lock()
        self._tls_files = tls_files
        self._server = None
        self._thread = None

    # -- configuration --

    def on(self, function, handler):
        self.handlers[function] = handler
        return self

    def queue(self, function, *answers):
        self.queued.setdefault(function, deque()).extend(answers)
        return self

    def calls(self, function=None):
        """Recorded requests, optionally only those naming ``function``."""
        with self._lock:
            recorded = list(self.requests)
        if function is None:
            return recorded
        return [request for request in recorded if dict(request['fields']).get('wsfunction') == function]

    # -- life cycle --

    def start(self):
        self._server = ThreadingHTTPServer(('127.0.0.1', 0), self._handler_class())
        self._server.daemon_threads = True
        if self._tls_files:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls_files)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self):
        scheme = 'https' if self._tls_files else 'http'
        return '%s://127.0.0.1:%d' % (scheme, self._server.server_address[1])

    # -- answering --

    def _answer(self, method, path, fields):
        with self._lock:
            self.requests.append({'method': method, 'path': path, 'fields': list(fields)})
        if path != REST_PATH:
            return Raw('<html><body>Not found</body></html>', status=404, content_type='text/html')
        if self.max_input_vars is not None:
            fields = fields[:self.max_input_vars + 1]  # what PHP keeps (seen on Moodle 4.5/5.1)
        params = decode_fields(fields)
        if params.pop('wstoken', None) != self.token:
            if params.get('moodlewsrestformat') != 'json':
                return Raw(XML_INVALID_TOKEN, content_type='application/xml; charset=utf-8')
            return moodle_exception('invalidtoken', 'Invalid token - token not found')
        params.pop('moodlewsrestformat', None)
        function = params.pop('wsfunction', None)
        return self._answer_function(function, params)

    def _answer_function(self, function, params):
        with self._lock:
            pending = self.queued.get(function)
            queued = pending.popleft() if pending else None
        if queued is not None:
            return queued(params) if callable(queued) else queued
        handler = self.handlers.get(function)
        if handler is None:
            return moodle_exception('accessexception', 'Access control exception',
                                    exception='webservice_access_exception')
        return handler(params)

    def _handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length).decode('utf-8')
                self._send(stub._answer('POST', self.path, parse_qsl(body, keep_blank_values=True)))

            def do_GET(self):
                path, _sep, query = self.path.partition('?')
                self._send(stub._answer('GET', path, parse_qsl(query, keep_blank_values=True)))

            def _send(self, answer):
                if not isinstance(answer, Raw):
                    answer = Raw(json.dumps(answer))
                if answer.delay:
                    time.sleep(answer.delay)
                payload = answer.body.encode('utf-8')
                self.send_response(answer.status)
                self.send_header('Content-Type', answer.content_type)
                self.send_header('Content-Length', str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        return Handler


# Sockets bound to the ports unused_port() handed out, held until the test process ends.
_HELD_PORTS = []


def unused_port():
    """A TCP port on 127.0.0.1 that nothing listens on (connection refused), for the rest of the test run.

    The port stays bound by a socket that never listens: connecting is refused, and no other process can
    start listening on it in the meantime (a port merely found free could be taken by the next test's server).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    _HELD_PORTS.append(sock)
    return sock.getsockname()[1]


def write_self_signed_cert(directory):
    """Write cert.pem/key.pem for 127.0.0.1 and localhost; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'cemu.moodle test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address('127.0.0.1')), x509.DNSName('localhost')]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(directory, 'cert.pem')
    key_path = os.path.join(directory, 'key.pem')
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return cert_path, key_path
