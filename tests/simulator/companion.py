# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts the simulator reads from the companion plugin's PHP source (the one place they live).

- the English strings of local_keepaccess (error messages, the service role's name);
- the web-service account that cli/create_service_user.php sets up: username, names, e-mail,
  role shortname, the role's capabilities and the roles it may assign in courses.
"""

from __future__ import annotations

import functools
import os
import re

PLUGIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles',
                          'moodle_companion', 'files', 'local_keepaccess')
LANG_FILE = os.path.join(PLUGIN_DIR, 'lang', 'en', 'local_keepaccess.php')
SERVICE_ACCOUNT_FILE = os.path.join(PLUGIN_DIR, 'classes', 'local', 'service_account.php')


def _read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def _php_string(text):
    """The value of a single-quoted PHP string literal's body."""
    return re.sub(r"\\(['\\])", r'\1', text)


@functools.lru_cache(maxsize=1)
def plugin_strings():
    """The plugin's English strings: {identifier: text}."""
    pattern = re.compile(r"\$string\['([a-z0-9_]+)'\]\s*=\s*'((?:[^'\\]|\\.)*)';", re.S)
    return {key: _php_string(text) for key, text in pattern.findall(_read(LANG_FILE))}


def _constant(source, name):
    """A class constant: a string, or a list of strings (comments inside the list are skipped)."""
    match = re.search(r'const\s+%s\s*=\s*(\[.*?\]|\'[^\']*\');' % name, source, re.S)
    if match is None:
        raise ValueError('constant %s not found in %s' % (name, SERVICE_ACCOUNT_FILE))
    value = re.sub(r'//[^\n]*', '', match.group(1))
    strings = [_php_string(text) for text in re.findall(r"'((?:[^'\\]|\\.)*)'", value)]
    return strings if value.startswith('[') else strings[0]


def _user_field(source, field):
    match = re.search(r"'%s'\s*=>\s*'([^']*)'" % field, source)
    if match is None:
        raise ValueError('user field %s not found in %s' % (field, SERVICE_ACCOUNT_FILE))
    return match.group(1)


@functools.lru_cache(maxsize=1)
def service_account():
    """What create_service_user.php creates, with its defaults: a dict of plain values."""
    source = _read(SERVICE_ACCOUNT_FILE)
    domain = re.search(r"'email'\s*=>\s*\$this->username\s*\.\s*'(@[^']+)'", source)
    if domain is None:
        raise ValueError('e-mail domain not found in %s' % SERVICE_ACCOUNT_FILE)
    return {
        'username': _constant(source, 'DEFAULT_USERNAME'),
        'firstname': _user_field(source, 'firstname'),
        'lastname': _user_field(source, 'lastname'),
        'email_domain': domain.group(1),
        'role_shortname': _constant(source, 'ROLE_SHORTNAME'),
        'role_name': plugin_strings()['cli_rolename'],
        'capabilities': tuple(_constant(source, 'CAPABILITIES')),
        'assignable_roles': tuple(_constant(source, 'DEFAULT_ASSIGNABLE_ROLES')),
        'service': _constant(source, 'SERVICE_SHORTNAME'),
    }
