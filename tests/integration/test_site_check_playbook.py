# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role checks each site once before any course is touched: a bad site stops with ONE message.

Three sites in one inventory: A is sound, B's playbook token is wrong, C's end date is past. A's courses
run; B and C print one message each, their courses stop untouched, and their Moodle is unchanged
(read back from the simulators), while the course lines point at the site's message.
"""

import datetime

import pytest

from tests.demo import runner
from tests.simulator import Simulator

END = datetime.date(datetime.date.today().year + 1, 6, 30).isoformat()
SITE_MESSAGE = 'failed its check, so none of its courses was touched'
WRITES = ('local_keepaccess_apply_manual_enrolments', 'local_keepaccess_remove_manual_enrolments',
          'local_keepaccess_ensure_manual_instance', 'local_keepaccess_claim_course', 'enrol_manual_enrol_users')


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('site_check')
    inventory = str(tmp / 'inventory')
    sites = {}
    for group, fixture, end in (('site_a', 'demo', END), ('site_b', 'recorded', END),
                                ('site_c', 'recorded', '2020-01-31')):
        token = 'site-check-%s-token-000001' % group.replace('_', '-')
        sim = Simulator(version='4.5', fixture=fixture, token=token).start()
        runner.write_site(inventory, sim.url, group, token, {
            'keep_access_end': end, 'keep_access_backup_dir': str(tmp / 'backups'),
            'keep_access_report_dir': str(tmp / 'reports'),
            'moodle_token': 'wrong-token-0000000000000000001' if group == 'site_b' else token,
        }, host_prefix='c_' if group == 'site_c' else '', token_in_group_vars=False,
            extra={'shortname_pattern': '^KA[1-3]$'} if fixture == 'recorded' else None)
        sites[group] = sim
    before = dict((group, sim.dump_state()) for group, sim in sites.items())
    code, output = runner.run_playbook(inventory)
    yield {'sites': sites, 'before': before, 'code': code, 'output': output, 'recap': runner.recap(output)}
    for sim in sites.values():
        sim.stop()


def failure_events(output):
    """The failures Ansible reports (one 'failed:'/'fatal:' line each; its [ERROR] banner repeats the same one)."""
    return [line for line in output.splitlines() if line.startswith(('failed: [', 'fatal: ['))]


def test_each_bad_site_prints_one_message(world):
    events = failure_events(world['output'])
    assert world['code'] != 0
    site_events = [line for line in events if SITE_MESSAGE in line]
    assert len(site_events) == 2, world['output']
    assert len([line for line in site_events if world['sites']['site_b'].url in line]) == 1
    assert len([line for line in events if 'Moodle rejected the token' in line]) == 1
    assert len([line for line in events if "end '2020-01-31'" in line and 'already past' in line]) == 1
    course_lines = [line for line in events if 'course not touched' in line]
    assert len(course_lines) == 6 and all(len(line) < 160 for line in course_lines)


def test_a_bad_sites_courses_stop_untouched(world):
    for group in ('site_b', 'site_c'):
        sim = world['sites'][group]
        assert sim.dump_state() == world['before'][group], '%s changed' % group
        assert not [call for call in sim.calls() if call['function'] in WRITES]
    failed = set(host for host, counts in world['recap'].items() if counts['failed'])
    assert failed == {'KA1', 'KA2', 'KA3', 'c_KA1', 'c_KA2', 'c_KA3', 'NOM401'}      # NOM401: no manual instance


def test_the_sound_site_runs(world):
    recap = world['recap']
    assert all(recap[course]['changed'] > 0 for course in ('DB101', 'COH201', 'MIX301'))
    assert world['sites']['site_a'].dump_state() != world['before']['site_a']
