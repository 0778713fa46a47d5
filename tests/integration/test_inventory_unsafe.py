# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Course text from Moodle is data, never a template, on every ansible-core (cemu.moodle.courses).

Any editing teacher can name a course ``{{ lookup('pipe', 'touch /tmp/x') }}``.
A simulated site holds such a course (fullname, shortname, idnumber and the
name of its category each run a different ``touch``); ansible-playbook over
the inventory plugin prints every host variable and the host's name, uses them
in ``compose``, ``groups`` and ``keyed_groups``, and prints what those made. No
command may run: the files must not exist, and the playbook must show the text
as it is.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.demo import runner
from tests.simulator import Simulator

TOKEN = 'inventory-unsafe-token-5e1f'
PLAYBOOK = '''
- name: Print what the inventory read from Moodle
  hosts: unsafe_site
  gather_facts: false
  tasks:
    - name: Every host variable read from Moodle, templated as a task uses them
      ansible.builtin.debug:
        msg: >-
          fullname={{ moodle_course_fullname }} shortname={{ moodle_course_shortname }}
          idnumber={{ moodle_course_idnumber }} category={{ moodle_course_category_name }}
          host={{ inventory_hostname }} composed={{ course_title }} groups={{ group_names }}
    - name: The same values through var=
      ansible.builtin.debug:
        var: moodle_course_fullname
    - name: Groups made from Moodle's values still work
      ansible.builtin.assert:
        that:
          - inventory_hostname in groups['payload_courses']
          - inventory_hostname in groups['method_database']
'''


def payload(marker):
    """Text that runs ``touch marker`` when Ansible templates it."""
    return "{{ lookup('pipe', 'touch %s') }}" % marker


@pytest.fixture(scope='module')
def played(tmp_path_factory):
    root = tmp_path_factory.mktemp('unsafe')
    markers = dict((field, str(root / ('ran-' + field))) for field in ('fullname', 'shortname', 'idnumber', 'category'))
    sim = Simulator(version='4.5', fixture='empty', token=TOKEN).start()
    try:
        category = sim.add_category(payload(markers['category']))
        course = sim.add_course(payload(markers['shortname']), fullname=payload(markers['fullname']),
                                idnumber=payload(markers['idnumber']), category=category)
        sim.add_instance(course, 'database')
        inventory = str(root / 'inventory')
        runner.write_site(inventory, sim.url, 'unsafe_site', TOKEN, extra={
            'compose': {'course_title': 'moodle_course_fullname'},
            'groups': {'payload_courses': "'lookup' in moodle_course_fullname"},
            'keyed_groups': [{'key': 'moodle_course_methods', 'prefix': 'method'},
                             {'key': 'moodle_course_category_name', 'prefix': 'category'}],
        })
        playbook = root / 'print.yml'
        playbook.write_text(PLAYBOOK)
        command = [sys.executable, '-m', 'ansible.cli.playbook', '-i', inventory, str(playbook)]
        done = subprocess.run(command, capture_output=True, text=True, env=runner.ansible_env(), timeout=300,
                              cwd=str(root), check=False)
        listing = subprocess.run([sys.executable, '-m', 'ansible.cli.inventory', '-i', inventory, '--list'],
                                 capture_output=True, text=True, env=runner.ansible_env(), timeout=120,
                                 cwd=str(root), check=False)
        yield {'markers': markers, 'play': done, 'listing': listing, 'courseid': course,
               'texts': dict((field, payload(marker)) for field, marker in markers.items())}
    finally:
        sim.stop()


def test_no_command_from_course_text_ran(played):
    ran = sorted(field for field, marker in played['markers'].items() if os.path.exists(marker))
    assert ran == [], 'templated on the controller, ran touch: %s' % ', '.join(ran)


def test_the_play_shows_the_text_as_it_is_and_groups_work(played):
    play = played['play']
    output = play.stdout + play.stderr
    assert play.returncode == 0, output[-4000:]
    for field in ('fullname', 'shortname', 'idnumber', 'category'):
        assert played['texts'][field] in output, '%s not printed as text:\n%s' % (field, output[-4000:])
    assert 'composed=' + played['texts']['fullname'] in output


def test_a_shortname_that_looks_like_a_template_does_not_name_the_host(played):
    """ansible-core before 2.19 templates inventory_hostname: the host is named by the course id instead."""
    listing = played['listing']
    assert listing.returncode == 0, listing.stderr[-3000:]
    inventory = json.loads(listing.stdout)
    assert inventory['unsafe_site']['hosts'] == ['course_%d' % played['courseid']]
    assert 'looks like a Jinja2 template' in played['play'].stderr + played['play'].stdout
    assert not any(os.path.exists(marker) for marker in played['markers'].values())
