# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A minimal REST client for tests of the simulator itself (the collection has its own client).

Also drives a simulator started as a subprocess through its /_sim/ control API.
"""

from __future__ import annotations

import requests

REST_PATH = '/webservice/rest/server.php'


def php_fields(params, prefix=''):
    """Flatten nested dicts/lists into PHP bracket form fields, in order."""
    fields = []
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = '%s[%s]' % (prefix, key) if prefix else str(key)
        if isinstance(value, (dict, list, tuple)):
            fields.extend(php_fields(value, name))
        elif value is not None:
            fields.append((name, str(int(value)) if isinstance(value, bool) else str(value)))
    return fields


def rest(url, token, function, params=None, fmt='json', method='POST', timeout=30):
    """Call a web-service function; return the requests.Response (fields: ws fields first)."""
    fields = [('wstoken', token), ('wsfunction', function)]
    if fmt:
        fields.append(('moodlewsrestformat', fmt))
    fields.extend(php_fields(params or {}))
    return send_fields(url, fields, method, timeout)


def send_fields(url, fields, method='POST', timeout=30):
    """Send ordered form fields: POST/PUT in the body, GET in the query string."""
    if method == 'GET':
        return requests.get(url + REST_PATH, params=fields, timeout=timeout)
    return requests.request(method, url + REST_PATH, data=fields, timeout=timeout)


def call(url, token, function, params=None):
    """Call a function with JSON answers; return the decoded answer (errors included)."""
    response = rest(url, token, function, params)
    response.raise_for_status()
    return response.json()


def control(url, operation, method='POST', **arguments):
    """Run a /_sim/ control operation of a simulator; return its result."""
    if method == 'GET':
        response = requests.get('%s/_sim/%s' % (url, operation), params=arguments, timeout=30)
    else:
        response = requests.post('%s/_sim/%s' % (url, operation), json=arguments, timeout=30)
    if response.status_code != 200:
        raise RuntimeError('simulator control %s failed: %s' % (operation, response.text))
    return response.json()['result']
