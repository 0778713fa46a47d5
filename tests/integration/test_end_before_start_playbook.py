# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An end date before the start of an enrolment the end-date step would change stops the course before its
first write (the role's restore checks the next step's end date), with the real ansible-playbook.

Seen on a real Moodle (tests/live/test_history_run_live.py): without the check the restore converted the
course's 16 students and only then the end-date step refused the date.
"""

import datetime
import time

from tests.demo import runner
from tests.simulator import Simulator

TOKEN = 'end-before-start-token-00000001'
KA3 = 4


def manual_view(sim):
    answer = sim.course_enrolments(KA3)
    return (sorted((ue['userid'], ue['status'], ue['timestart'], ue['timeend'])
                   for ue in answer['userenrolments'] if ue['enrol'] == 'manual'),
            sorted((ra['userid'], ra['roleid']) for ra in answer['roleassignments'] if ra['component'] == ''))


def test_an_end_date_before_a_start_stops_the_course_before_the_restore_writes(tmp_path):
    sim = Simulator(version='4.5', fixture='recorded', token=TOKEN).start()
    try:
        manual = sim.manual_instance(KA3)['id']
        late = [ue for ue in sim.course_enrolments(KA3)['userenrolments'] if ue['username'] == 'student0216'][0]
        sim.state.update('user_enrolments', sim.state.user_enrolment(manual, late['userid'])['id'],
                         timestart=int(time.time()) + 40 * 86400)
        end = datetime.date.today() + datetime.timedelta(days=20)
        inventory = str(tmp_path / 'inventory')
        runner.write_site(inventory, sim.url, 'site', TOKEN, {
            'keep_access_end': end.isoformat(), 'keep_access_status': 'any',
            'keep_access_backup_dir': str(tmp_path / 'backups')}, extra={'shortname_pattern': '^KA3$'})
        before = manual_view(sim)
        code, output = runner.run_playbook(inventory, '-e', 'keep_access_report_dir=' + str(tmp_path / 'reports'))
        assert code != 0 and runner.recap(output)['KA3']['failed'] == 1, output[-3000:]
        failure = [line for line in output.splitlines() if line.startswith('fatal: [KA3]')]
        assert failure and 'student0216' in failure[0] and 'before the start' in failure[0], output[-3000:]
        assert 'nothing was restored' in failure[0]
        assert manual_view(sim) == before, 'KA3 was written before its end date was refused'
    finally:
        sim.stop()
