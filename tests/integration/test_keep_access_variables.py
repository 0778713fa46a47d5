# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbook checks the role's variables of every course, once for each distinct set of values.

The role's own per-course argument validation is off in the playbook (it was a
worker process per course); the playbook validates the variables of all
courses in one task instead. A bad value on one course must still stop the
run before anything is written, naming the variable and the value.
"""

import os

from tests.demo import runner
from tests.integration.evidence import write_calls
from tests.simulator import Simulator

TOKEN = 'variables-token-4d2c8e'


def test_a_bad_variable_on_one_course_stops_the_run_before_any_write(tmp_path):
    sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    try:
        inventory = str(tmp_path / 'inventory')
        runner.write_site(inventory, sim.url, 'site', TOKEN, {
            'keep_access_end': '2099-03-31', 'keep_access_backup_dir': str(tmp_path / 'backups'),
            'keep_access_report_dir': str(tmp_path / 'reports')})
        # one course of four, a value not allowed
        runner.write_host_vars(inventory, 'MIX301', {'keep_access_policy': 'shorten'})
        code, output = runner.run_playbook(inventory)
        assert code != 0
        assert 'keep_access_policy' in output and 'shorten' in output, output[-3000:]
        assert "value of keep_access_policy must be one of: set, extend" in output
        assert write_calls(sim) == []
        assert not os.path.exists(tmp_path / 'backups')
    finally:
        sim.stop()


def test_the_variables_are_checked_once_for_each_distinct_set_of_values(tmp_path):
    sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    try:
        inventory = str(tmp_path / 'inventory')
        runner.write_site(inventory, sim.url, 'site', TOKEN, {
            'keep_access_end': '2099-03-31', 'keep_access_backup_dir': str(tmp_path / 'backups'),
            'keep_access_report_dir': str(tmp_path / 'reports')})
        runner.write_host_vars(inventory, 'DB101', {'keep_access_end': '2099-06-30'})   # differs from the others
        code, output = runner.run_playbook(inventory, '--check')
        section = output.split('TASK [Check the keep_access variables')[1].split('TASK [')[0]
        assert section.count("'keep_access_end': '2099-03-31'") == 1, section
        assert section.count("'keep_access_end': '2099-06-30'") == 1, section
        assert section.count('(item=') == 2, section
        assert TOKEN not in output
        assert code == 2 and write_calls(sim) == []          # NOM401 fails alone, as always; check mode
    finally:
        sim.stop()
