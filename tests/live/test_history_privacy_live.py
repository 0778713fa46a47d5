# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""local_keepaccess's history, course claims, retention task and privacy provider on the real Moodle.

Runs tests/live/history_privacy_check.php (the plugin's classes and Moodle's privacy manager, on a
course and two users it creates and deletes) and over web services: the site settings, and a second
run stopped by a claim while the first holds the course.
"""

import json
import os
import subprocess

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleError
from tests.live.live_backend import LIVE_DIR

CHECKS = ('site settings: plugin version and time zone', 'claim: run b is refused while run a holds the course',
          'history: before and after of a created enrolment', 'privacy: the component is compliant',
          'privacy: export of a user holds their history', 'privacy: delete for a user removes only theirs',
          'privacy: delete for a context removes every row', 'retention: the task removes records older than the setting',
          'privacy: metadata names existing tables and strings (test_metadata_provider)',
          'privacy: every table with a user field is declared (test_table_coverage)',
          'privacy: a user data provider that also lists users (test_userdata_provider_implements_userlist)',
          'privacy: a deleted user is understood (test_component_understands_deleted_users)',
          "privacy: the data registry (tool_dataprivacy's plugin privacy registry) lists it compliant",
          "privacy: export of a user holds nobody else's history", 'privacy: delete for a list of users')


def test_history_claims_retention_and_privacy_pass_moodles_own_apis(live):
    command = live.php + [os.path.join(LIVE_DIR, 'history_privacy_check.php'), '--moodle=' + live.moodle_dir]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600,
                               check=False, cwd=LIVE_DIR)
    checks = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith('{"check"')]
    failed = [check for check in checks if not check['ok']]
    assert completed.returncode == 0 and not failed, failed or completed.stderr[-2000:]
    assert set(CHECKS) <= set(check['check'] for check in checks)


def test_site_settings_and_claims_over_web_services(live):
    settings = live.api.site_settings()
    assert settings['pluginversion'] >= 2026120110 and settings['timezone']
    course = live.course('KA1')['id']
    with live.api.course_claimed(course, 'live-ws-run-a'):
        with pytest.raises(MoodleError) as refused:
            live.api.claim_course(course, 'live-ws-run-b')
        assert refused.value.errorcode == 'courseclaimed' and 'live-ws-run-a' in str(refused.value)
    assert live.api.claim_course(course, 'live-ws-run-b')['runid'] == 'live-ws-run-b'
    assert live.api.release_course(course, 'live-ws-run-b') is True
