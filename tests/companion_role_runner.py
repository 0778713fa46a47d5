# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run role cemu.moodle.moodle_companion with the real ansible-playbook on this machine (connection local).

Shared by the fast tests on a fake Moodle tree (tests/integration/test_companion_role.py)
and the live tests on a real Moodle (tests/live/test_companion_role_live.py).
"""

import json
import os
import subprocess
import sys

from tests.demo.runner import ansible_env, recap

HOST = 'moodlehost'

PLAYBOOK = """- name: Deploy the companion plugin
  hosts: moodle
  gather_facts: false
  roles:
    - role: cemu.moodle.moodle_companion
  post_tasks:
    - name: Keep the token for the test, readable only by its owner
      ansible.builtin.copy:
        content: "{{ moodle_companion_token }}"
        dest: "{{ token_file }}"
        mode: "0600"
      when: moodle_companion_token is defined
      changed_when: false  # The test's own task: the recap counts the role's changes only.
      no_log: true
"""


class RoleRun:
    """One ansible-playbook run: exit code, output, PLAY RECAP counts of the host, and the token it kept."""

    def __init__(self, returncode, output, token_file):
        self.returncode = returncode
        self.output = output
        self.counts = recap(output).get(HOST, {})
        self.token = None
        if os.path.exists(token_file):
            with open(token_file) as handle:
                self.token = handle.read()
            os.unlink(token_file)

    @property
    def changed(self):
        return self.counts.get('changed')

    @property
    def failed(self):
        return self.counts.get('failed')


def run_role(work_dir, variables, options=(), timeout=600):
    """Run the role on this machine with ``variables`` as extra vars (``options``: more ansible-playbook options)."""
    work_dir = str(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    inventory = os.path.join(work_dir, 'inventory.ini')
    playbook = os.path.join(work_dir, 'companion.yml')
    extra = os.path.join(work_dir, 'extra-vars.json')
    token_file = os.path.join(work_dir, 'token')
    with open(inventory, 'w') as handle:
        handle.write('[moodle]\n%s ansible_connection=local\n' % HOST)
    with open(playbook, 'w') as handle:
        handle.write(PLAYBOOK)
    with open(extra, 'w') as handle:
        json.dump(dict(variables, token_file=token_file), handle)
    result = subprocess.run([sys.executable, '-m', 'ansible.cli.playbook', '-i', inventory, playbook, '-e', '@' + extra] + list(options),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ansible_env({'ANSIBLE_INVENTORY_ENABLED': 'ini'}), timeout=timeout, check=False)
    return RoleRun(result.returncode, result.stdout, token_file)
