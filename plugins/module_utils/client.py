# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moodle REST web-service client: encoding, errors, retries and batches.

Every request is a form POST to ``{url}/webservice/rest/server.php`` with
``wstoken``, ``wsfunction`` and ``moodlewsrestformat=json`` first, then the
parameters in PHP bracket notation. Moodle answers errors with HTTP 200 and an
exception object (or an XML ``<EXCEPTION>`` document): both become
:class:`MoodleError`, never a result. Problems below Moodle (network, TLS,
HTTP status, an answer that is not Moodle's) become
:class:`MoodleTransportError`. The token never appears in any message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import json
import os
import re
import time
import warnings

from urllib.parse import quote, quote_plus

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - depends on the host
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = import_error

REST_PATH = '/webservice/rest/server.php'
SITE_INFO_FUNCTION = 'core_webservice_get_site_info'
WS_FIELD_COUNT = 3           # wstoken, wsfunction, moodlewsrestformat
INPUT_VARS_MARGIN = 50       # PHP keeps max_input_vars + 1 fields; stay well below
PHP_DEFAULT_MAX_INPUT_VARS = 1000
RETRY_HTTP_STATUSES = (502, 503, 504)
MASK = '********'
FORM_HEADERS = {'Content-Type': 'application/x-www-form-urlencoded'}

# error codes the collection raises itself (no Moodle details to add)
OWN_ERRORCODES = ('coursenotfound', 'courseambiguous', 'functionmissing', 'incompletebatch',
                  'invalidresponse', 'invalidurl', 'batchtoolarge', 'missinglib')
# errors whose text already says everything; the function name would only distract
UNPREFIXED_ERRORCODES = ('coursenotfound', 'courseambiguous', 'functionmissing', 'invalidurl', 'batchtoolarge')

SERVICE_FUNCTIONS_PLACE = ('Site administration > Server > Web services > '
                           'External services > (the service) > Functions')


class MoodleError(Exception):
    """A call that Moodle (or the way to it) refused.

    ``function`` is the web-service function, ``errorcode`` Moodle's error
    code (or one of the collection's own: ``phperror``, ``functionmissing``,
    ``coursenotfound``, ``courseambiguous``, ``incompletebatch`` ...),
    ``message`` Moodle's text, ``exception`` Moodle's exception class.
    ``str()`` gives :meth:`describe`.
    """

    def __init__(self, message, function=None, errorcode=None, exception=None,
                 debuginfo=None, hint=None):
        super(MoodleError, self).__init__(message)
        self.message = message
        self.function = function
        self.errorcode = errorcode
        self.exception = exception
        self.debuginfo = debuginfo
        self.hint = hint

    def describe(self):
        """One paragraph a person can act on."""
        explanation = _explain(self)
        parts = [explanation]
        if self.hint:
            parts.append(self.hint)
        details = self._moodle_details(explanation)
        if details:
            parts.append(details)
        text = ' '.join(part.rstrip() for part in parts if part)
        if self.function and self.errorcode not in UNPREFIXED_ERRORCODES:
            return '%s: %s' % (self.function, text)
        return text

    def _moodle_details(self, explanation):
        if self.errorcode is None or self.exception is None and self.errorcode in OWN_ERRORCODES:
            return ''
        if isinstance(self, MoodleTransportError):
            return ''
        said = self.message if self.message and self.message not in explanation else ''
        details = 'errorcode: %s' % self.errorcode
        if said:
            details += '; Moodle said: %s' % said
        if self.debuginfo:
            details += '; debuginfo: %s' % self.debuginfo
        return '[%s]' % details

    def mask(self, secret):
        """Replace ``secret`` in every text of this error (the token)."""
        for name in ('message', 'debuginfo', 'hint'):
            setattr(self, name, mask_secret(getattr(self, name), secret))
        self.args = (self.message,)
        return self

    def __str__(self):
        return self.describe()

    def __repr__(self):
        return '%s(function=%r, errorcode=%r, message=%r)' % (
            type(self).__name__, self.function, self.errorcode, self.message)


class MoodleTransportError(MoodleError):
    """No usable answer: connection, TLS, timeout, HTTP status, not Moodle.

    ``retryable`` says whether the same request may succeed when repeated.
    """

    def __init__(self, message, function=None, errorcode='transport', retryable=False):
        super(MoodleTransportError, self).__init__(message, function=function, errorcode=errorcode)
        self.retryable = retryable


def mask_secret(text, secret):
    """Return ``text`` with every occurrence of ``secret`` (raw or URL-encoded) masked."""
    if not text or not secret:
        return text
    for form in _secret_forms(secret):
        text = text.replace(form, MASK)
    return text


def _secret_forms(secret):
    forms = {secret, quote(secret, safe=''), quote(secret, safe='').replace('%20', '+')}
    return sorted(forms, key=len, reverse=True)


# --- what an error code means to a person ---------------------------------

def _explain_nopermissions(err):
    capability = _capability_in(err.message)
    if capability:
        return ("the token's user lacks the capability '%s' in this context; "
                'give their role that capability (or use a user whose role has it).' % capability)
    return "the token's user lacks a capability this call needs; check the role of the token's user."


def _capability_in(message):
    match = re.search(r'\(([^()]+)\)\s*\.?\s*$', message or '')
    return match.group(1) if match else None


EXPLANATIONS = {
    'invalidtoken': ('Moodle rejected the token: it is wrong, expired, or restricted to other IP '
                     'addresses. Check moodle_token (Site administration > Server > Web services > '
                     'Manage tokens).'),
    'accessexception': ("access denied: the function is not in the token's service, or the token's "
                        'user is not an authorised user of that service.'),
    'servicerequireslogin': ("the token's service is disabled or restricted, or the token's user may "
                             'not use it.'),
    'servicenotavailable': "the token's web service is disabled or not available to this user.",
    'nopermissions': _explain_nopermissions,
    'required_capability_exception': _explain_nopermissions,
    'wsnoinstance': ('the course has no enabled manual enrolment instance; add and enable the '
                     "'Manual enrolments' method in the course (or let the collection create it)."),
    'nomanualinstance': ('the course has no enabled manual enrolment instance; add and enable the '
                         "'Manual enrolments' method in the course (or let the collection create it)."),
    'invalidrecord': 'a record Moodle looked for does not exist (a course, user or instance id that is not there).',
    'invalidrecordunknown': ('a record Moodle looked for does not exist (a course, user or instance id '
                             'that is not there).'),
    'invalidparameter': ('Moodle rejected the parameters of the call (a missing or unknown key, or a '
                         'value out of range); if this comes from the companion plugin, check that its '
                         'version matches the collection.'),
    'codingerror': 'Moodle hit an internal check (often a user id that does not exist or is deleted).',
    'userdeleted': 'a user in the call has been deleted in Moodle.',
    'usernotconfirmed': 'a user in the call has not confirmed their account.',
    'guestsarenotallowed': 'the guest user cannot be enrolled.',
    'wsusercannotassign': None,
    'sitemaintenance': 'the site is in maintenance mode; try again when it is back.',
}


def _explain(err):
    explanation = EXPLANATIONS.get(err.errorcode)
    if callable(explanation):
        return explanation(err)
    if explanation:
        return explanation
    if err.errorcode == 'phperror':
        return 'PHP error inside Moodle (%s): %s' % (err.exception or 'error', err.message)
    return err.message or ('Moodle error %s' % err.errorcode)


# --- parameter encoding ---------------------------------------------------

def encode_params(params):
    """Flatten ``params`` into PHP bracket form fields, in order.

    ``{'a': [{'b': 1, 'c': [2]}]}`` -> ``[('a[0][b]', '1'), ('a[0][c][0]', '2')]``;
    booleans become '1'/'0', None values are left out.
    """
    fields = []
    for key, value in (params or {}).items():
        _flatten(str(key), value, lambda name, leaf: fields.append((name, str(leaf))), _php_bracket)
    return fields


def _php_bracket(key):
    return '[%s]' % (key,)


def encode_form(params):
    """The fields of :func:`encode_params` as one form body, in one pass.

    Equal to ``urlencode(encode_params(params))`` (same fields, same order),
    without building the pairs first: bracket names are quoted once per key
    or index and integers need no quoting.
    """
    quoted = {}

    def bracket(key):
        name = quoted.get(key)
        if name is None:
            name = quoted[key] = '%5B' + quote_plus(str(key)) + '%5D'
        return name

    parts = []

    def emit(name, leaf):
        parts.append(name + '=' + (str(leaf) if isinstance(leaf, int) else quote_plus(str(leaf))))

    for key, value in (params or {}).items():
        _flatten(quote_plus(str(key)), value, emit, bracket)
    return '&'.join(parts)


def count_fields(value):
    """How many form fields :func:`encode_params` makes of ``value``, without encoding it."""
    if value is None:
        return 0
    if isinstance(value, dict):
        return sum(count_fields(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(count_fields(item) for item in value)
    return 1


def _flatten(name, value, emit, bracket):
    """``emit(name, leaf)`` for every leaf of ``value``; ``bracket(key)`` names one level down."""
    if value is None:
        return
    if isinstance(value, bool):
        emit(name, '1' if value else '0')
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(name + bracket(key), item, emit, bracket)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _flatten(name + bracket(index), item, emit, bracket)
    else:
        emit(name, value)


# --- answers --------------------------------------------------------------

XML_EXCEPTION = re.compile(r'<EXCEPTION(?:\s+class="([^"]*)")?\s*>(.*?)</EXCEPTION>', re.S)
SERVER_PATH_CALL = re.compile(r',?\s*(?:called\s+)?\bin\s+(?:/|[A-Za-z]:\\)\S*\s+on\s+line\s+\d+')
SERVER_PATH = re.compile(r'(?:/|[A-Za-z]:\\)[^\s:"\']*\.php(?::\d+)?')


def cut_server_paths(text):
    """Remove server file paths from a PHP error message."""
    if not text:
        return text
    text = SERVER_PATH_CALL.sub('', text)
    return SERVER_PATH.sub('<server path>', text)


def error_from_json(function, answer):
    """MoodleError for a JSON error object, or None when ``answer`` is a result."""
    if not isinstance(answer, dict) or not ('exception' in answer or 'errorcode' in answer):
        return None
    if 'exception' not in answer and 'message' not in answer:
        return None
    errorcode = answer.get('errorcode')
    message = answer.get('message') or ''
    debuginfo = answer.get('debuginfo')
    if not errorcode:
        errorcode = 'phperror'
        message = cut_server_paths(message)
        debuginfo = cut_server_paths(debuginfo)
    return MoodleError(message, function=function, errorcode=errorcode,
                       exception=answer.get('exception'), debuginfo=debuginfo or None)


def error_from_xml(function, body):
    """MoodleError for an XML ``<EXCEPTION>`` document, or None."""
    match = XML_EXCEPTION.search(body)
    if not match:
        return None
    inner = match.group(2)

    def element(tag):
        found = re.search(r'<%s>(.*?)</%s>' % (tag, tag), inner, re.S)
        return html.unescape(found.group(1)).strip() if found else None

    return MoodleError(element('MESSAGE') or '', function=function,
                       errorcode=element('ERRORCODE') or 'phperror',
                       exception=html.unescape(match.group(1) or '') or None,
                       debuginfo=element('DEBUGINFO'))


class MoodleClient:
    """Calls Moodle web-service functions over REST.

    ``idempotent=True`` lets a call be repeated after connection errors,
    connect timeouts and HTTP 502/503/504 (exponential backoff). Every call
    this collection makes is safe to repeat (reads, and writes of absolute
    values), so the modules pass ``idempotent=True``.
    """

    def __init__(self, url, token, validate_certs=True, ca_path=None, timeout=60,
                 retries=3, backoff=0.5, batch_size=500, max_input_vars=5000, session=None):
        if not HAS_REQUESTS:
            raise MoodleTransportError('the Python library requests is required', errorcode='missinglib')
        try:
            self.url = normalise_url(url)
        except MoodleError as err:
            raise err.mask(token) from None
        self.endpoint = self.url + REST_PATH
        self._token = token or ''
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        if validate_certs and ca_path and not os.path.isfile(ca_path):
            raise MoodleTransportError('ca_path %s is not a file; give the PEM CA bundle that signed the '
                                       "server's certificate" % ca_path, errorcode='tlserror')
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self.max_input_vars = max_input_vars
        self.session = session or requests.Session()
        self.session.headers.setdefault('User-Agent', 'cemu.moodle')
        self._request_settings = self._settings_from_environment()
        self._site_info = None
        self._sleep = time.sleep

    def __repr__(self):
        return 'MoodleClient(url=%r)' % self.url

    # -- calls --

    def call(self, function, params=None, idempotent=False):
        """Call ``function``; return its parsed JSON answer (None for ``null``)."""
        body = self._form_body(function, params)
        try:
            return self._call_with_retries(function, body, idempotent)
        except MoodleError as err:
            self._explain_access(function, err)
            self._explain_invalid_parameter(err, WS_FIELD_COUNT + count_fields(params))
            raise err.mask(self._token) from None

    def _form_body(self, function, params):
        """The encoded form: wstoken, wsfunction, moodlewsrestformat, then the parameters (bytes, ASCII)."""
        fields = encode_form({'wstoken': self._token, 'wsfunction': function, 'moodlewsrestformat': 'json'})
        encoded_params = encode_form(params)
        if encoded_params:
            fields += '&' + encoded_params
        return fields.encode('ascii')

    def _call_with_retries(self, function, body, idempotent):
        attempts = 1 + (max(self.retries, 0) if idempotent else 0)
        for attempt in range(attempts):
            try:
                return self._parse(function, self._post(function, body))
            except MoodleTransportError as err:
                if not err.retryable or attempt + 1 >= attempts:
                    if attempt:
                        err.message += ' (gave up after %d attempts)' % (attempt + 1)
                    raise
            self._sleep(self.backoff * (2 ** attempt))
        raise AssertionError('unreachable')  # pragma: no cover

    def _post(self, function, body):
        try:
            with warnings.catch_warnings():
                if not self.validate_certs:
                    warnings.simplefilter('ignore')
                return self.session.post(self.endpoint, data=body, headers=FORM_HEADERS, timeout=self.timeout,
                                         allow_redirects=False, **self._request_settings)
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(function, exc) from None

    def _settings_from_environment(self):
        """verify and proxies of every request: what requests takes from the environment, read once.

        The proxies (HTTPS_PROXY, NO_PROXY...), the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) and a
        .netrc login apply as requests applies them, but requests reads them anew for every request
        (scanning the whole environment, a fifth of a call's CPU); every call of a client goes to the
        one endpoint, so they are read when the client is made.
        """
        session = self.session
        if not getattr(session, 'trust_env', False) or not hasattr(session, 'merge_environment_settings'):
            return {'verify': self._verify()}
        settings = session.merge_environment_settings(self.endpoint, {}, None, self._verify(), None)
        if session.auth is None:
            session.auth = requests.utils.get_netrc_auth(self.endpoint)
        session.trust_env = False
        return {'verify': settings['verify'], 'proxies': settings['proxies']}

    def _verify(self):
        if not self.validate_certs:
            return False
        return self.ca_path or True

    def _parse(self, function, response):
        body = response.content.decode('utf-8', 'replace').lstrip('\ufeff').strip()
        if response.status_code != 200:
            error = self._moodle_error_in(function, body)
            raise error or self._http_error(function, response, body)
        error = self._moodle_error_in(function, body)
        if error:
            raise error
        if body.startswith('<'):
            raise self._not_moodle(function, body)
        try:
            return json.loads(body)
        except ValueError:
            raise self._not_moodle(function, body) from None

    def _moodle_error_in(self, function, body):
        if body.startswith('<'):
            return error_from_xml(function, body)
        try:
            return error_from_json(function, json.loads(body))
        except ValueError:
            return None

    # -- site info and the service's functions --

    def site_info(self):
        """``core_webservice_get_site_info`` of this token (cached)."""
        if self._site_info is None:
            self._site_info = self.call(SITE_INFO_FUNCTION, idempotent=True)
        return self._site_info

    def service_functions(self):
        """Names of the functions the token's service offers."""
        return set(item.get('name') for item in self.site_info().get('functions') or [])

    def missing_functions(self, names):
        """The names, in order, that the token's service lacks."""
        available = self.service_functions()
        return [name for name in names if name not in available]

    def require_functions(self, names, advice=None):
        """Raise MoodleError 'functionmissing' naming what the service lacks."""
        missing = self.missing_functions(names)
        if missing:
            raise functions_missing_error(missing, advice)

    def _explain_access(self, function, err):
        if err.errorcode != 'accessexception' or err.hint:
            return
        if function == SITE_INFO_FUNCTION:
            err.hint = ('add %s to the service (%s); the collection needs it to check the service.'
                        % (SITE_INFO_FUNCTION, SERVICE_FUNCTIONS_PLACE))
            return
        try:
            missing = self.missing_functions([function])
        except MoodleError:
            return
        if missing:
            err.hint = ("%s is not in the token's service; add it (%s)." % (function, SERVICE_FUNCTIONS_PLACE))
        else:
            err.hint = ("%s is in the token's service, so the token's user is probably not among the "
                        "service's authorised users, or lacks a capability this function checks." % function)

    @staticmethod
    def _explain_invalid_parameter(err, field_count):
        if err.errorcode == 'invalidparameter' and field_count > PHP_DEFAULT_MAX_INPUT_VARS and not err.hint:
            err.hint = ("This call sent %d form fields: if the server's PHP max_input_vars is lower, PHP "
                        'dropped the rest and Moodle saw a missing parameter (nothing was applied). Set '
                        "max_input_vars to the server's value or lower batch_size." % field_count)

    # -- batches --

    def split_rows(self, list_key, rows, params=None, fields_per_row=None):
        """Split ``rows`` into batches that fit ``batch_size`` and ``max_input_vars``."""
        rows = list(rows)
        if not rows:
            return []
        size = self.rows_per_call(list_key, rows, params, fields_per_row)
        return [rows[start:start + size] for start in range(0, len(rows), size)]

    def rows_per_call(self, list_key, rows, params=None, fields_per_row=None):
        """min(batch_size, (max_input_vars - margin - ws and other fields) // fields per row)."""
        per_row = fields_per_row or max(count_fields(row) for row in rows)
        room = self.max_input_vars - INPUT_VARS_MARGIN - WS_FIELD_COUNT - count_fields(params)
        size = min(self.batch_size, room // max(per_row, 1))
        if size < 1:
            raise MoodleError(
                'one row needs %d form fields but max_input_vars=%d leaves room for %d; raise '
                'max_input_vars to the server\'s PHP max_input_vars' % (per_row, self.max_input_vars, room),
                errorcode='batchtoolarge')
        return size

    def call_batched(self, function, list_key, rows, params=None, idempotent=True,
                     fields_per_row=None, check=None):
        """Send ``rows`` under ``list_key`` in as many calls as the limits need.

        The rows go first and the other parameters after them: when PHP's
        max_input_vars cuts the form anyway, a required parameter (such as
        ``courseid``) is what gets lost and Moodle rejects the whole call,
        instead of applying a row that lost some of its fields.

        Returns the list of per-batch results, in order. ``check(batch, result)``
        runs after each call (before the next one is sent) and may raise.
        """
        others = dict((key, value) for key, value in (params or {}).items() if key != list_key)
        results = []
        for batch in self.split_rows(list_key, rows, others, fields_per_row):
            call_params = {list_key: batch}
            call_params.update(others)
            result = self.call(function, call_params, idempotent=idempotent)
            if check is not None:
                check(batch, result)
            results.append(result)
        return results

    # -- transport errors --

    def _transport_error(self, function, exc):
        text = str(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            return MoodleTransportError(self._tls_message(text), function, 'tlserror')
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return MoodleTransportError(
                'no connection to %s within %s s (timeout)' % (self.url, self.timeout), function,
                'timeout', retryable=True)
        if isinstance(exc, requests.exceptions.Timeout):
            return MoodleTransportError(
                'Moodle at %s did not answer within %s s; raise timeout, or lower batch_size for '
                'write calls' % (self.url, self.timeout), function, 'timeout')
        if isinstance(exc, requests.exceptions.ConnectionError):
            return MoodleTransportError(
                'cannot connect to %s: %s' % (self.url, _connection_reason(text)), function,
                'connectionerror', retryable=True)
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            return MoodleTransportError('moodle_url %r is not a usable URL: %s' % (self.url, text),
                                        function, 'invalidurl')
        return MoodleTransportError('request to %s failed: %s' % (self.url, text), function)

    def _tls_message(self, text):
        reason = _tls_reason(text)
        if 'certificate verify failed' in text.lower() or 'CERTIFICATE_VERIFY_FAILED' in text:
            where = 'the CA bundle in ca_path %s' % self.ca_path if self.ca_path else 'the system CA bundle'
            return ('TLS certificate verification failed for %s (%s) against %s. Set ca_path to the '
                    "CA bundle that signed the server's certificate, or validate_certs: false for a "
                    'test site only.' % (self.url, reason, where))
        return ('TLS error talking to %s: %s. Check moodle_url (https:// on the right port), ca_path '
                'and validate_certs.' % (self.url, reason))

    def _http_error(self, function, response, body):
        status = response.status_code
        if 300 <= status < 400:
            return MoodleTransportError(
                'HTTP %d from %s: redirected to %s; set moodle_url to the address the site redirects '
                'to (the site root)' % (status, self.endpoint, response.headers.get('Location', '?')),
                function, 'httperror')
        hint = HTTP_STATUS_HINTS.get(status, 'see the web server\'s error log' if status >= 500 else '')
        message = 'HTTP %d %s from %s' % (status, response.reason or '', self.endpoint)
        if hint:
            message += '; ' + hint
        excerpt = _excerpt(body)
        if excerpt:
            message += ' (answer began: %s)' % excerpt
        return MoodleTransportError(message, function, 'httperror',
                                    retryable=status in RETRY_HTTP_STATUSES)

    def _not_moodle(self, function, body):
        return MoodleTransportError(
            'the answer does not look like a Moodle web service at %s; check moodle_url (the site '
            'root) and that the REST protocol is enabled (answer began: %s)' % (self.url, _excerpt(body) or 'empty'),
            function, 'notmoodle')


HTTP_STATUS_HINTS = {
    401: 'a proxy or the web server asks for authentication before Moodle',
    403: ('web services or the REST protocol are disabled on the site (Site administration > '
          'Server > Web services > Manage protocols), or a proxy refused the request'),
    404: 'check moodle_url (the site root, without /webservice/...) and that the REST protocol is enabled',
    502: 'a proxy in front of Moodle got no answer from it',
    503: 'the site is unavailable (maintenance or overload)',
    504: 'a proxy in front of Moodle timed out waiting for it',
}


def normalise_url(url):
    """Site root without trailing slash; MoodleError 'invalidurl' when it is not http(s)."""
    text = (url or '').strip()
    if not re.match(r'^https?://[^/\s]+', text, re.I):
        raise MoodleError(
            'moodle_url %r must start with http:// or https:// followed by the host, e.g. '
            'https://moodle.example.edu' % text, errorcode='invalidurl')
    text = text.rstrip('/')
    if text.endswith(REST_PATH):
        text = text[:-len(REST_PATH)]
    return text


def functions_missing_error(missing, advice=None):
    """MoodleError 'functionmissing' listing the functions the service lacks."""
    message = ("the token's web service lacks %s: %s. Add %s to the service (%s)" % (
        'this function' if len(missing) == 1 else 'these functions', ', '.join(missing),
        'it' if len(missing) == 1 else 'them', SERVICE_FUNCTIONS_PLACE))
    if advice:
        message += '; ' + advice
    return MoodleError(message + '.', function=SITE_INFO_FUNCTION, errorcode='functionmissing')


def _connection_reason(text):
    lowered = text.lower()
    if 'name or service not known' in lowered or 'nameresolution' in lowered or \
            'nodename nor servname' in lowered or 'getaddrinfo failed' in lowered or \
            'temporary failure in name resolution' in lowered:
        return 'the host name does not resolve (DNS); check moodle_url'
    if 'connection refused' in lowered:
        return 'connection refused; check the host and port in moodle_url and that the web server runs'
    errno = re.search(r'\[Errno -?\d+\] ([^\'")]+)', text)
    if errno:
        return errno.group(1).strip()
    return _excerpt(text, 200)


def _tls_reason(text):
    match = re.search(r'certificate verify failed: ([^(\'"]+)', text)
    if match:
        return 'certificate verify failed: ' + match.group(1).strip()
    match = re.search(r'\[SSL[^\]]*\][^(\'"]*', text)
    return match.group(0).strip() if match else _excerpt(text, 200)


def _excerpt(text, limit=120):
    flat = re.sub(r'\s+', ' ', re.sub(r'<[^>]*>', ' ', text or '')).strip()
    if len(flat) > limit:
        flat = flat[:limit] + '...'
    return repr(flat) if flat else ''
