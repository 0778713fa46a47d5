# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options shared by every cemu.moodle module (cemu.moodle.connection)."""

    DOCUMENTATION = r'''
notes:
  - Each connection option not set in the task or in C(module_defaults) is taken from the host's variable
    of the same name with a C(moodle_) prefix, where the host has one (C(moodle_url), C(moodle_token),
    C(moodle_validate_certs), C(moodle_ca_path), C(moodle_timeout), C(moodle_batch_size),
    C(moodle_max_input_vars)), as the inventory plugin C(cemu.moodle.courses) and the site's group variables
    set them; otherwise from the environment variable named below, otherwise its default.
options:
  moodle_url:
    description:
      - Root URL of the Moodle site, for example V(https://moodle.example.edu).
      - Must start with V(http://) or V(https://). The web-service endpoint
        C(/webservice/rest/server.php) is added by the module.
      - If not set, the host variable C(moodle_url) is used, then the environment variable E(MOODLE_URL).
    type: str
    required: true
  moodle_token:
    description:
      - Web-service token of a Moodle user whose service holds the functions the collection calls.
      - If not set, the host variable C(moodle_token) is used, then the environment variable E(MOODLE_TOKEN).
      - The token never appears in results, messages or backups.
    type: str
    required: true
  validate_certs:
    description:
      - Verify the TLS certificate of O(moodle_url).
      - Set to V(false) only for test sites; prefer O(ca_path) for a private CA.
      - If not set, the value of the environment variable E(MOODLE_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle file (PEM) to verify the site's certificate with, instead of the system bundle.
      - If not set, the value of the environment variable E(MOODLE_CA_PATH) is used.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP request to Moodle.
    type: int
    default: 60
  batch_size:
    description:
      - Most rows (users) sent in one write call.
      - Every call the collection makes is safe to repeat (reads, and writes of
        absolute values), so calls are retried after connection errors and HTTP
        502, 503 and 504; every batch is checked to have been applied in full.
    type: int
    default: 500
  max_input_vars:
    description:
      - The Moodle server's PHP C(max_input_vars). PHP silently drops form fields beyond it,
        so each call is kept below it (web-service fields plus rows times fields per row,
        with a margin), whatever O(batch_size) says.
      - Moodle requires at least 5000; set it to the server's value when it is lower.
    type: int
    default: 5000
requirements:
  - requests (Python library on the host that runs the module)
'''
