# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""moodle_set_enrol_end's assume_enrolments: a dry run plans against the enrolments a restore would make.

Real ansible-playbook runs of the module against the simulator's `demo` site,
whose DB101 has no manual enrolment yet and NOM401 no manual instance at all.
The whole chain (--check report equal to the real run's) is in
test_keep_access_playbook.py.
"""

import datetime

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi
from tests.integration.module_runner import Task, connection_options, run_tasks
from tests.simulator import Simulator

TOKEN = 'check-mode-token-0123456789'
END = datetime.date(datetime.date.today().year + 1, 6, 30).isoformat()


@pytest.fixture(scope='module')
def sim():
    simulator = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    yield simulator
    simulator.stop()


def userids(sim, shortname):
    """{username: userid} of the course's enrolled users."""
    api = KeepAccessApi(MoodleClient(sim.url, TOKEN))
    course = api.find_course(shortname, by='shortname')
    return dict((ue['username'], ue['userid']) for ue in api.read_course_enrolments(course['id'])['userenrolments'])


def assumed(userid, username, status='active', roles=('student',), timestart=0, timeend=0):
    return {'userid': userid, 'username': username, 'status': status, 'roles': list(roles),
            'timestart': timestart, 'timeend': timeend}


def set_end(course, rows, check=True, **options):
    return Task('moodle_set_enrol_end', check=check, diff=True, course=course, end=END, assume_enrolments=rows,
                **options)


def changed_names(result):
    return sorted(user['username'] for user in result['changed_users'])


def test_check_mode_plans_end_dates_of_assumed_enrolments_by_status_and_role(sim, tmp_path):
    ids = userids(sim, 'DB101')
    rows = [assumed(ids['student0001'], 'student0001'), assumed(ids['student0002'], 'student0002'),
            assumed(ids['student0003'], 'student0003', status='suspended'),
            assumed(ids['teacher01'], 'teacher01', roles=['editingteacher'])]
    before = sim.dump_state()
    run = run_tasks([set_end('DB101', rows), set_end('DB101', [])], connection_options(sim.url, TOKEN),
                    workdir=str(tmp_path))
    with_rows, without = run[0], run[1]
    assert not with_rows.get('failed'), with_rows.get('msg')
    assert with_rows['changed'] is True
    # student0003's assumed manual enrolment is suspended, but its database enrolment is active, so the
    # Participants filter "Status: Active" lists it and the manual procedure dates its manual enrolment too.
    assert changed_names(with_rows) == ['student0001', 'student0002', 'student0003']
    assert with_rows['counts'] == {'selected': 3, 'changed': 3, 'unchanged': 0}
    assert set(with_rows['user_changes']['after']) == {'student0001', 'student0002', 'student0003'}
    assert without['changed'] is False and without['changed_users'] == []
    assert sim.dump_state() == before, 'check mode changed the simulated Moodle'


def test_assumed_end_already_at_the_date_is_unchanged(sim, tmp_path):
    ids = userids(sim, 'DB101')
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    first = run_tasks([set_end('DB101', [assumed(ids['student0001'], 'student0001')])],
                      connection_options(sim.url, TOKEN), workdir=str(tmp_path / 'a'))[0]
    already = assumed(ids['student0001'], 'student0001', timeend=first['end'])
    second = run_tasks([set_end('DB101', [already])], connection_options(sim.url, TOKEN),
                       workdir=str(tmp_path / 'b'))[0]
    assert second['changed'] is False
    assert second['counts'] == {'selected': 1, 'changed': 0, 'unchanged': 1}


def test_course_without_manual_instance_is_planned_as_if_the_restore_added_one(sim, tmp_path):
    ids = userids(sim, 'NOM401')
    students = sorted(name for name in ids if name.startswith('student'))
    rows = [assumed(ids[name], name) for name in students]
    result = run_tasks([set_end('NOM401', rows)], connection_options(sim.url, TOKEN), workdir=str(tmp_path))[0]
    assert not result.get('failed'), result.get('msg')
    assert changed_names(result) == students
    assert not any('no enabled manual enrolment instance' in w for w in result.get('warnings', []))


def test_assume_enrolments_is_ignored_outside_check_mode(sim, tmp_path):
    ids = userids(sim, 'DB101')
    before = sim.dump_state()
    result = run_tasks([set_end('DB101', [assumed(ids['student0001'], 'student0001')], check=False)],
                       connection_options(sim.url, TOKEN), workdir=str(tmp_path))[0]
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is False and result['changed_users'] == []
    assert sim.dump_state() == before


def test_unknown_role_or_status_in_assumed_enrolments_names_the_option(sim, tmp_path):
    ids = userids(sim, 'DB101')
    run = run_tasks([set_end('DB101', [assumed(ids['student0001'], 'student0001', roles=['wizard'])]),
                     set_end('DB101', [assumed(ids['student0001'], 'student0001', status='gone')])],
                    connection_options(sim.url, TOKEN), workdir=str(tmp_path))
    assert run[0]['failed'] and "assume_enrolments: role 'wizard' does not exist" in run[0]['msg']
    assert run[1]['failed'] and 'assume_enrolments' in run[1]['msg'] and 'gone' in run[1]['msg']
