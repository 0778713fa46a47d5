# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's three-module example, as README.md has it, under ``--check --diff`` against the simulator.

The playbook is read from README.md (the YAML block with the three modules), so that this test follows the
README. Only what points at a real site is replaced: the connection and course in ``module_defaults`` (the
simulator's demo course MIX301), the ``backup_dir`` paths (a temporary folder) and the end date (a fixed date
in the README would one day be past, which the end-date module refuses). Nothing may change in Moodle or on
disk, and the planned changes must be shown: the backup's one-line summary, the restore's and the end-date
step's lines per user.
"""

import datetime
import os
import re
import subprocess
import sys

import yaml

from tests.collection_path import REPO_ROOT
from tests.demo import runner
from tests.simulator import Simulator

TOKEN = 'readme-example-token-5a1c'
# the README's play runs on the implicit localhost: no inventory, and no warning about that
NO_INVENTORY = {'ANSIBLE_LOCALHOST_WARNING': 'false', 'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'false',
                'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false'}
MODULES = ('cemu.moodle.moodle_backup_enrolments', 'cemu.moodle.moodle_restore_manual',
           'cemu.moodle.moodle_set_enrol_end')


def readme_example():
    """The README's YAML block that runs the three modules as tasks."""
    with open(os.path.join(REPO_ROOT, 'README.md')) as handle:
        blocks = re.findall(r'^```yaml\n(.*?)^```', handle.read(), re.S | re.M)
    found = [b for b in blocks if all(m + ':' in b for m in MODULES) and 'hosts: localhost' in b]
    assert len(found) == 1, 'README.md should have one YAML block running the three modules on localhost'
    return yaml.safe_load(found[0])


def pointed_at_the_simulator(plays, sim, backups, end):
    for play in plays:
        defaults = play['module_defaults']['group/cemu.moodle.moodle']
        assert set(defaults) >= {'moodle_url', 'moodle_token', 'course'}, defaults
        defaults.update(moodle_url=sim.url, moodle_token=TOKEN, course='MIX301')
        for task in play['tasks']:
            module = next(name for name in task if name.startswith('cemu.moodle.'))
            options = task[module]
            if 'backup_dir' in options:
                options['backup_dir'] = backups
            if 'end' in options:
                options['end'] = end
    return plays


def test_the_readme_example_runs_under_check_and_shows_what_it_would_do(tmp_path):
    sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    try:
        backups = str(tmp_path / 'backups')
        end = datetime.date(datetime.date.today().year + 1, 6, 30).isoformat()
        playbook = tmp_path / 'readme.yml'
        playbook.write_text(yaml.safe_dump(pointed_at_the_simulator(readme_example(), sim, backups, end)))
        before = sim.dump_state()
        completed = subprocess.run(
            [sys.executable, '-m', 'ansible.cli.playbook', str(playbook), '--check', '--diff'],
            env=runner.ansible_env(NO_INVENTORY), cwd=str(tmp_path),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False)
        output = completed.stdout
        assert completed.returncode == 0, output[-4000:]
        assert runner.recap(output)['localhost'] == dict(runner.recap(output)['localhost'], failed=0, changed=3)
        assert sim.dump_state() == before, 'the check run changed Moodle'
        assert not os.path.exists(backups) or not any(files for _d, _s, files in os.walk(backups)), \
            'the check run wrote a backup'
    finally:
        sim.stop()
    # what it would do, readable: the backup in one line, one line per user for the restore and the end dates
    assert re.search(r"^backup of course 'MIX301' \(id \d+\): 4 cohort, 7 database enrolments -> .*\(check mode: "
                     r"not written\)$", output, re.M), output
    assert re.search(r'^student0029\s+new  active  end: none  \[\+student\]$', output, re.M), output
    assert re.search(r'^student0033\s+active  end: none -> %s 23:59 CEST  \[student\]$' % end, output, re.M), output
    assert '[WARNING]' not in output, output
