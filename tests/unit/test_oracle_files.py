# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oracle's inputs, checked without a Moodle: oracle.php parses, and every state of
oracle_states.json is one oracle.php can build (so a broken state shows here, not on a live run)."""

import json
import os
import re
import shutil
import subprocess

import pytest

from tests.live import oracle_compare
from tests.live.live_backend import LIVE_DIR

with open(os.path.join(LIVE_DIR, 'oracle_states.json')) as handle:
    STATES = json.load(handle)
STANDARD_ROLES = {'manager', 'coursecreator', 'editingteacher', 'teacher', 'student', 'guest', 'user'}
USER_FIELDS = {'database', 'cohorts', 'manual', 'self', 'account', 'category_roles'}
ENROLMENT_FIELDS = {'roles', 'status', 'timestart', 'timeend'}


@pytest.mark.skipif(shutil.which('php') is None, reason='php is not installed')
@pytest.mark.parametrize('script', ['oracle.php', 'cli_options.php'])
def test_oracle_php_parses(script):
    completed = subprocess.run(['php', '-l', os.path.join(LIVE_DIR, script)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, check=False)
    assert completed.returncode == 0, completed.stdout


def test_state_names_are_unique_and_make_valid_moodle_names():
    names = [state['name'] for state in STATES['states']]
    assert len(names) == len(set(names))
    for state in STATES['states']:
        for key in state['users']:
            username = 'orc_%s_%s' % (state['name'], key)
            assert re.match(r'^[a-z0-9_.@-]{1,100}$', username), username


@pytest.mark.parametrize('state', STATES['states'], ids=lambda s: s['name'])
def test_every_state_is_buildable(state):
    cohorts = state.get('cohorts', {})
    assert set(state) <= {'name', 'title', 'cohorts', 'users', 'manual_instance'}
    for key, user in state['users'].items():
        assert set(user) <= USER_FIELDS, key
        for method in ('database', 'manual', 'self'):
            spec = user.get(method)
            if spec is None:
                continue
            assert set(spec) <= ENROLMENT_FIELDS and spec['roles'], (key, method)
            assert set(spec['roles']) <= STANDARD_ROLES, (key, method)
            for field in ('timestart', 'timeend'):
                oracle_compare.unname_time(spec.get(field, 0), 0, 1)
        assert set(user.get('database', {}).get('status', 'active').split()) <= {'active', 'suspended'}
        assert set(user.get('cohorts', ())) <= set(cohorts), key
        assert set(user.get('category_roles', ())) <= STANDARD_ROLES, key
    for spec in cohorts.values():
        assert spec['status'] in (0, 1) and spec['role'] in STANDARD_ROLES
