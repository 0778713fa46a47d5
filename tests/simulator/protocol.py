# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moodle's REST protocol: PHP form parsing, parameter validation, errors, JSON and XML answers."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

EXCEPTION_CLASSES = {
    'moodle': 'core\\exception\\moodle_exception',
    'invalid_parameter': 'core\\exception\\invalid_parameter_exception',
    'coding': 'core\\exception\\coding_exception',
    'required_capability': 'core\\exception\\required_capability_exception',
    'webservice_access': 'webservice_access_exception',
    'dml_missing_record': 'dml_missing_record_exception',
}

# Human names of capabilities, as get_capability_string() gives them.
CAPABILITY_NAMES = {
    'moodle/course:enrolreview': 'Review course enrolments',
    'moodle/course:enrolconfig': 'Configure enrol instances in courses',
    'moodle/course:update': 'Update course settings',
    'moodle/course:viewparticipants': 'View participants',
    'moodle/role:assign': 'Assign roles to users',
    'enrol/manual:enrol': 'Enrol users',
    'enrol/manual:manage': 'Manage user enrolments',
    'enrol/manual:unenrol': 'Unenrol users from the course',
    'enrol/manual:config': 'Configure manual enrol instances',
}


class MoodleException(Exception):
    """An exception Moodle answers as {exception, errorcode, message}."""

    def __init__(self, kind, errorcode, message):
        super().__init__(message)
        self.exception = EXCEPTION_CLASSES.get(kind, kind)
        self.errorcode = errorcode
        self.message = message

    def as_dict(self):
        """The JSON error body (no errorcode key when there is none, like a PHP TypeError)."""
        body = {'exception': self.exception}
        if self.errorcode is not None:
            body['errorcode'] = self.errorcode
        body['message'] = self.message
        return body


def invalid_parameter():
    """Moodle's invalid_parameter_exception with debugging off."""
    return MoodleException('invalid_parameter', 'invalidparameter', 'Invalid parameter value detected')


def missing_record(table=None):
    """dml_missing_record_exception as get_record(MUST_EXIST) throws it."""
    if table is None:
        return MoodleException('dml_missing_record', 'invalidrecordunknown', "Can't find data record in database.")
    return MoodleException('dml_missing_record', 'invalidrecord', "Can't find data record in database table %s." % table)


def no_permission(capability):
    """required_capability_exception for a missing capability."""
    name = CAPABILITY_NAMES.get(capability, capability)
    return MoodleException('required_capability', 'nopermissions',
                           'Sorry, but you do not currently have permissions to do that (%s).' % name)


# ----- form fields ------------------------------------------------------------
def parse_fields(raw, max_input_vars):
    """Form fields in order; PHP keeps only the first max_input_vars + 1 and drops the rest silently."""
    fields = parse_qsl(raw, keep_blank_values=True)
    return fields[:max_input_vars + 1]


_KEY_RE = re.compile(r'^([^\[]+)((?:\[[^\]]*\])*)$')


def php_arrays(fields):
    """Build PHP's $_POST from ordered fields: 'a[0][b]=1' -> {'a': {0: {'b': '1'}}}; later keys win."""
    result = {}
    for name, value in fields:
        match = _KEY_RE.match(name)
        if not match:
            result[name] = value
            continue
        base, brackets = match.group(1), match.group(2)
        path = [base] + re.findall(r'\[([^\]]*)\]', brackets)
        _php_set(result, path, value)
    return result


def _php_key(key, container):
    if key == '':
        return max((k for k in container if isinstance(k, int)), default=-1) + 1
    return int(key) if re.fullmatch(r'-?[1-9][0-9]*|0', key) else key


def _php_set(container, path, value):
    for position, key in enumerate(path):
        key = _php_key(key, container) if position else key
        if position == len(path) - 1:
            container[key] = value
            return
        if not isinstance(container.get(key), dict):
            container[key] = {}
        container = container[key]


# ----- parameter descriptions (external_value / single / multiple) ---------------
REQUIRED, DEFAULT, OPTIONAL = 'required', 'default', 'optional'


class Value:
    """external_value: a scalar of a PARAM_* type."""

    def __init__(self, ptype, mode=REQUIRED, default=None):
        self.ptype, self.mode, self.default = ptype, mode, default

    def validate(self, raw):
        """Return the cleaned value or raise invalidparameter."""
        if isinstance(raw, dict):
            raise invalid_parameter()
        text = str(raw)
        if self.ptype == 'int':
            if not re.fullmatch(r'-?(0|[1-9][0-9]*)', text):
                raise invalid_parameter()
            return int(text)
        if self.ptype == 'bool':
            if text not in ('0', '1'):
                raise invalid_parameter()
            return int(text)
        if self.ptype == 'alpha' and not re.fullmatch(r'[A-Za-z]*', text):
            raise invalid_parameter()
        if self.ptype == 'alphanumext' and not re.fullmatch(r'[A-Za-z0-9_-]*', text):
            raise invalid_parameter()
        return text


class Single:
    """external_single_structure: a PHP array with known keys."""

    def __init__(self, keys, mode=REQUIRED, default=None):
        self.keys, self.mode, self.default = keys, mode, default

    def validate(self, raw):
        """Unknown keys and missing required keys are invalidparameter."""
        if not isinstance(raw, dict) or set(raw) - set(self.keys):
            raise invalid_parameter()
        cleaned = {}
        for key, desc in self.keys.items():
            if key in raw:
                cleaned[key] = desc.validate(raw[key])
            elif desc.mode == REQUIRED:
                raise invalid_parameter()
            elif desc.mode == DEFAULT:
                cleaned[key] = desc.default
        return cleaned


class Multiple:
    """external_multiple_structure: a PHP array of items (keys ignored, order kept)."""

    def __init__(self, item, mode=REQUIRED, default=None):
        self.item, self.mode, self.default = item, mode, default

    def validate(self, raw):
        """Validate every item."""
        if not isinstance(raw, dict):
            raise invalid_parameter()
        return [self.item.validate(value) for value in raw.values()]


def validate_parameters(description, params):
    """external_api::validate_parameters for a function's top-level parameters."""
    return Single(description).validate(params)


# ----- answers ------------------------------------------------------------------
def escape(text):
    """PHP's htmlspecialchars() with ENT_COMPAT: & < > and double quotes."""
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;')


class XmlOnly:
    """A key the JSON answer leaves out but Moodle's XML writer prints from the description."""

    def __init__(self, empty):
        self.empty = empty      # [] for a multiple structure, None for a value


def strip_xml_only(value):
    """Remove XmlOnly keys for the JSON answer."""
    if isinstance(value, dict):
        return {k: strip_xml_only(v) for k, v in value.items() if not isinstance(v, XmlOnly)}
    if isinstance(value, list):
        return [strip_xml_only(v) for v in value]
    return value


class _HasXmlOnly(Exception):
    """Raised while encoding when an XmlOnly key must be stripped first."""


def _refuse_xml_only(value):
    raise _HasXmlOnly() if isinstance(value, XmlOnly) else TypeError(repr(value))


def json_answer(result):
    """JSON text of a result (``null`` for functions that return nothing); big answers are not copied."""
    try:
        return json.dumps(result, default=_refuse_xml_only)
    except _HasXmlOnly:
        return json.dumps(strip_xml_only(result))


def _xml_value(value):
    if isinstance(value, XmlOnly):
        value = value.empty
    if value is None:
        return '<VALUE null="null"/>\n'
    if isinstance(value, dict):
        keys = ''.join('<KEY name="%s">%s</KEY>\n' % (escape(str(k)), _xml_value(v)) for k, v in value.items())
        return '<SINGLE>\n%s</SINGLE>\n' % keys
    if isinstance(value, list):
        return '<MULTIPLE>\n%s</MULTIPLE>\n' % ''.join(_xml_value(v) for v in value)
    if isinstance(value, bool):
        value = int(value)
    return '<VALUE>%s</VALUE>\n' % escape(str(value))


def xml_answer(result):
    """Moodle's REST XML answer."""
    body = '' if result is None else _xml_value(result)
    return '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n%s</RESPONSE>\n' % body


def json_error(error):
    """JSON text of an exception."""
    return json.dumps(error.as_dict())


def xml_error(error):
    """Moodle's REST XML exception document."""
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="%s">\n<ERRORCODE>%s</ERRORCODE>\n'
            '<MESSAGE>%s</MESSAGE>\n</EXCEPTION>\n') % (escape(error.exception), escape(error.errorcode or ''),
                                                        escape(error.message))
