# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots of the live Moodle 4.5 test site's answers (tests/live fixture), and what they assume.

Each ``*.json`` file here is one request sent with the least-privilege ``keep_access`` service token
and the real answer (token replaced by ``<TOKEN>``, the private access key by ``<KEY>``), captured
read-only by ``python -m tests.simulator.recorded_live.capture`` while the site held the fixture
exactly as ``tests/live/build_fixture.php`` leaves it. ``tests/unit/test_simulator_parity_facts.py``
replays them against the simulator's ``recorded`` fixture offline.
"""

from __future__ import annotations

import glob
import json
import os

SNAPSHOT_DIR = os.path.dirname(os.path.abspath(__file__))
COURSES = ('KA1', 'KA2', 'KA3', 'KA4', 'BIG1')

# User enrolments per (method, status) and manual (component '') role assignments of each course as
# build_fixture.php leaves them (tests/live/README.md): the state every comparison assumes.
BUILT_FIXTURE = {
    'KA1': ({('database', 0): 32}, 0),
    'KA2': ({('cohort', 0): 25}, 0),
    'KA3': ({('database', 0): 13, ('cohort', 0): 6, ('manual', 0): 5, ('manual', 1): 3}, 8),
    'KA4': ({('database', 0): 10}, 0),
    'BIG1': ({('database', 0): 2000}, 0),
}

# Where the recordings (../shared/moodle-ws, replayed by tests/unit/test_recordings_replay.py) and the
# live site disagree, the simulator follows the recordings. Role assignments the live site has and the
# simulator leaves out, per course shortname: {username: (role shortname, component)}. The recorded KA3
# page of core_enrol_get_enrolled_users lists ONE role for student0221 and student0222; build_fixture.php
# gives both a manual student role on top of their database one.
RECORDINGS_WIN_ROLES = {'KA3': {'student0221': ('student', ''), 'student0222': ('student', '')}}
# Other values where the recordings win: the site name, the category name and course context ids
# (courseimage URLs), and the theme revision in picture URLs.
RECORDINGS_WIN_VALUES = {
    'sitename': 'Real Moodle Test Site',
    'categoryname': 'Realmoodle fixtures',
}


# What a snapshot taken with an older local_keepaccess cannot tell (tests/unit/test_simulator_parity_facts.py).
# Answer fields the plugin added, with the version that added them: a snapshot whose answer reports an older
# `pluginversion` is compared without them.
FIELDS_SINCE = {'inheritedroleassignments': 2026120100, 'assignableroles': 2026120100}
# Snapshots of requests the plugin no longer refuses (so capture.py no longer sends them: they would write),
# kept as evidence of the site's settings, and not replayed: file name -> why.
SUPERSEDED = {
    'local_keepaccess_apply_manual_enrolments.manager_not_assignable.error.json':
        'since 2026120100 a role the caller may not assign is skipped per row (rolesskipped), not refused; '
        'the snapshot still shows that the service user may not assign manager on the live site',
    'local_keepaccess_apply_manual_enrolments.role_before_times.error.json':
        'since 2026120100 roles refuse nothing; the same row is now refused by its times (invalidtimes)',
}


def counts_of(enrolments):
    """(user enrolments per (method, status), manual role assignments) of one get_course_enrolments answer."""
    per_method = {}
    for ue in enrolments['userenrolments']:
        key = (ue['enrol'], ue['status'])
        per_method[key] = per_method.get(key, 0) + 1
    return per_method, sum(1 for ra in enrolments['roleassignments'] if ra['component'] == '')


def snapshot_paths():
    """Every snapshot file that is replayed, sorted (not the SUPERSEDED ones)."""
    return sorted(path for path in glob.glob(os.path.join(SNAPSHOT_DIR, '*.json'))
                  if os.path.basename(path) not in SUPERSEDED)


def superseded_path(name):
    """The path of a SUPERSEDED snapshot."""
    if name not in SUPERSEDED:
        raise KeyError(name)
    return os.path.join(SNAPSHOT_DIR, name)


def load(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)
