# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-inventory over two simulated sites read by cemu.moodle.courses (real HTTP)."""

import json
import subprocess
import sys

import pytest

from tests.demo import runner
from tests.simulator import Simulator

TOKENS = {'site_a': 'inventory-token-site-a-0001', 'site_b': 'inventory-token-site-b-0002'}


@pytest.fixture(scope='module')
def sites():
    started = {'site_a': Simulator(version='4.5', fixture='demo', token=TOKENS['site_a']).start(),
               'site_b': Simulator(version='5.1', fixture='recorded', token=TOKENS['site_b']).start()}
    yield started
    for sim in started.values():
        sim.stop()


def plain(value):
    """Values read from Moodle are marked unsafe (never templated); ansible-inventory shows the marker."""
    if isinstance(value, dict) and set(value) == {'__ansible_unsafe'}:
        return value['__ansible_unsafe']
    return value


def inventory_list(inventory_dir):
    command = [sys.executable, '-m', 'ansible.cli.inventory', '-i', inventory_dir, '--list']
    done = subprocess.run(command, capture_output=True, text=True, env=runner.ansible_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stdout + done.stderr


def write(tmp_path, sites, extra_a=None, extra_b=None):
    for group, extra in (('site_a', extra_a), ('site_b', extra_b)):
        runner.write_site(str(tmp_path), sites[group].url, group, TOKENS[group], extra=extra,
                          token_in_group_vars=False)
    return str(tmp_path)


def hosts_of(listing, group):
    return sorted(listing.get(group, {}).get('hosts', []))


def test_two_sites_each_in_its_group_without_tokens_in_host_vars(tmp_path, sites):
    listing, text = inventory_list(write(tmp_path, sites))
    assert hosts_of(listing, 'site_a') == ['COH201', 'DB101', 'MIX301', 'NOM401']
    assert hosts_of(listing, 'site_b') == ['BIG1', 'KA1', 'KA2', 'KA3', 'KA4']
    hostvars = listing['_meta']['hostvars']
    assert hostvars['KA1']['moodle_course'] == 2
    assert plain(hostvars['KA1']['moodle_course_idnumber']) == 'KA-2026-1'
    assert plain(hostvars['KA1']['moodle_url']) == sites['site_b'].url
    assert plain(hostvars['DB101']['moodle_url']) == sites['site_a'].url
    for host, variables in hostvars.items():
        assert 'moodle_course_shortname' in variables, host
    printed_hostvars = json.dumps(hostvars)
    assert TOKENS['site_a'] not in printed_hostvars and TOKENS['site_b'] not in printed_hostvars


def test_filters_by_category_pattern_and_enabled_methods(tmp_path, sites):
    sim = sites['site_a']
    categories = sim.dump_state()['tables']['categories']
    humanities = [c['id'] for c in categories if c['idnumber'] == 'HUM']
    listing, dummy = inventory_list(write(
        tmp_path, sites,
        extra_a={'categories': humanities, 'include_subcategories': False},
        extra_b={'shortname_pattern': '^KA', 'methods': ['cohort']}))
    assert hosts_of(listing, 'site_a') == ['COH201', 'NOM401']
    assert hosts_of(listing, 'site_b') == ['KA2', 'KA3']


def test_disabled_instances_do_not_count(tmp_path, sites):
    sim = sites['site_b']
    ka2 = sim.course_enrolments(3)
    cohort = [i for i in ka2['instances'] if i['enrol'] == 'cohort'][0]
    sim.update_instance(cohort['id'], status=1)
    try:
        listing, dummy = inventory_list(write(tmp_path, sites, extra_b={'shortname_pattern': '^KA2$'}))
    finally:
        sim.update_instance(cohort['id'], status=0)
    assert hosts_of(listing, 'site_b') == []


def test_a_wrong_token_fails_the_inventory_with_moodles_reason(tmp_path, sites):
    runner.write_site(str(tmp_path), sites['site_a'].url, 'site_a', 'wrong-token-123')
    command = [sys.executable, '-m', 'ansible.cli.inventory', '-i', str(tmp_path), '--list']
    done = subprocess.run(command, capture_output=True, text=True, env=runner.ansible_env(), timeout=120, check=False)
    assert done.returncode != 0
    assert 'Moodle rejected the token' in done.stderr
    assert 'wrong-token-123' not in done.stdout + done.stderr


def test_least_privilege_token_reads_idnumbers_through_the_companion(tmp_path, sites):
    """The service user of create_service_user.php lacks moodle/course:update: Moodle leaves idnumber out."""
    sim = sites['site_b']
    service_token = 'inventory-service-token-0003'
    sim.add_service_token(service_token)
    runner.write_site(str(tmp_path), sim.url, 'site_b', service_token, token_in_group_vars=False,
                      extra={'idnumber_pattern': '^KA-2026-[1-3]$'})
    listing, text = inventory_list(str(tmp_path))
    assert hosts_of(listing, 'site_b') == ['KA1', 'KA2', 'KA3']
    assert plain(listing['_meta']['hostvars']['KA2']['moodle_course_idnumber']) == 'KA-2026-2'
    assert service_token not in text
