# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role checks each site once before any course is touched: a bad site stops with ONE message.

Three sites in one inventory: A is sound, B's playbook token is wrong, C's end date is past. A's courses
run; B and C print one message each, their courses stop untouched, and their Moodle is unchanged
(read back from the simulators), while the course lines point at the site's message.
Site A uses keep_access_end=course_end: DB101 has its own end date, COH201 none (the fallback), and
MIX301 none and no fallback (it stops before any write).
"""

import datetime
import zoneinfo

import pytest

from tests.demo import runner
from tests.simulator import Simulator

END = datetime.date(datetime.date.today().year + 1, 6, 30).isoformat()
DB101_END = int(datetime.datetime(datetime.date.today().year + 1, 9, 1, tzinfo=zoneinfo.ZoneInfo('Europe/Berlin'))
                .timestamp())
FALLBACK_END = int(datetime.datetime.combine(datetime.date.fromisoformat(END), datetime.time(23, 59, 59),
                                             tzinfo=zoneinfo.ZoneInfo('Europe/Berlin')).timestamp())
SITE_MESSAGE = 'failed its check, so none of its courses was touched'
WRITES = ('local_keepaccess_apply_manual_enrolments', 'local_keepaccess_remove_manual_enrolments',
          'local_keepaccess_ensure_manual_instance', 'local_keepaccess_claim_course', 'enrol_manual_enrol_users')


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('site_check')
    inventory = str(tmp / 'inventory')
    sites = {}
    for group, fixture, end in (('site_a', 'demo', 'course_end'), ('site_b', 'recorded', END),
                                ('site_c', 'recorded', '2020-01-31')):
        token = 'site-check-%s-token-000001' % group.replace('_', '-')
        sim = Simulator(version='4.5', fixture=fixture, token=token).start()
        runner.write_site(inventory, sim.url, group, token, {
            'keep_access_end': end, 'keep_access_backup_dir': str(tmp / 'backups'),
            'keep_access_report_dir': str(tmp / 'reports'), 'keep_access_end_fallback': END,
            'moodle_token': 'wrong-token-0000000000000000001' if group == 'site_b' else token,
        }, host_prefix='c_' if group == 'site_c' else '', token_in_group_vars=False,
            extra={'shortname_pattern': '^KA[1-3]$'} if fixture == 'recorded' else None)
        sites[group] = sim
    demo = dict((c['shortname'], c['id']) for c in sites['site_a'].state.tables['courses'].values())
    for shortname, enddate in (('DB101', DB101_END), ('COH201', 0), ('MIX301', 0)):
        sites['site_a'].state.update('courses', demo[shortname], enddate=enddate)
    runner.write_host_vars(inventory, 'MIX301', {'keep_access_end_fallback': ''})
    before = dict((group, sim.dump_state()) for group, sim in sites.items())
    code, output = runner.run_playbook(inventory)
    yield {'sites': sites, 'before': before, 'code': code, 'output': output, 'recap': runner.recap(output),
           'report': runner.load_report(str(tmp / 'reports')), 'courses': demo}
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
    course_lines = [line for line in events if 'failed its check (message above)' in line]
    assert len(course_lines) == 6 and all(len(line) < 160 for line in course_lines)


def test_a_bad_sites_courses_stop_untouched(world):
    for group in ('site_b', 'site_c'):
        sim = world['sites'][group]
        assert sim.dump_state() == world['before'][group], '%s changed' % group
        assert not [call for call in sim.calls() if call['function'] in WRITES]
    failed = set(host for host, counts in world['recap'].items() if counts['failed'])
    # NOM401: no manual instance; MIX301: no end date and no fallback
    assert failed == {'KA1', 'KA2', 'KA3', 'c_KA1', 'c_KA2', 'c_KA3', 'NOM401', 'MIX301'}


def manual_ends(world, shortname):
    answer = world['sites']['site_a'].course_enrolments(world['courses'][shortname])
    return set(ue['timeend'] for ue in answer['userenrolments'] if ue['enrol'] == 'manual')


def test_course_end_gives_each_course_its_own_end_date_or_the_fallback_and_says_why(world):
    recap = world['recap']
    assert all(recap[course]['changed'] > 0 for course in ('DB101', 'COH201'))
    assert DB101_END in manual_ends(world, 'DB101') and FALLBACK_END not in manual_ends(world, 'DB101')
    assert FALLBACK_END in manual_ends(world, 'COH201')
    reasons = dict((c['course'], c['end_reason']) for c in world['report']['courses'])
    assert reasons['DB101'].startswith('course end date ')
    assert reasons['COH201'] == 'keep_access_end_fallback %s: the course has no end date' % END


def test_a_course_without_a_usable_end_date_stops_before_any_write(world):
    site = world['sites']['site_a']
    before = [ue for ue in world['before']['site_a']['tables']['user_enrolments']
              if ue['enrolid'] in set(i['id'] for i in site.state.instances_of(world['courses']['MIX301']))]
    after = [ue for ue in site.dump_state()['tables']['user_enrolments'] if ue['id'] in set(u['id'] for u in before)]
    assert before == after and len(site.state.course_user_enrolments(world['courses']['MIX301'])) == len(before)
    assert [line for line in failure_events(world['output']) if 'MIX301' in line and 'no end date' in line]
