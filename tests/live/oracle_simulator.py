# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oracle's starting states in the simulator: build each state as the real Moodle held it
(recorded by tests/live/oracle.php), run the collection's role over real HTTP with the least-privilege
service token, and read what each course holds afterwards, in the oracle's shapes (oracle_compare).

Used by the live oracle (same states, simulator next to the real Moodle) and by the simulator
parity test (tests/integration/test_oracle_parity.py, recorded states and outcomes).
"""

import os

from tests.demo import runner
from tests.live import oracle_compare
from tests.simulator import Simulator

SERVICE_TOKEN = 'oracle-parity-service-token-5c1e'
SITE_GROUP = 'oracle'
OUR_COPY = 'O'


def shortname(state):
    return 'ORC-%s-%s' % (state, OUR_COPY)


def username(state, key):
    return 'orc_%s_%s' % (state, key)


class SimulatedOracle:
    """A simulated site holding the oracle's O copies."""

    def __init__(self, version):
        self.sim = Simulator(version=version, fixture='empty').start()
        self.sim.add_service_token(SERVICE_TOKEN)
        self.category = self.sim.add_category('cemu.moodle oracle', idnumber='KEEPACCESS-ORACLE')
        self.roleids = dict((r['shortname'], r['id']) for r in self.sim.dump_state()['tables']['roles'])
        self.courses = {}         # state name -> {courseid, instances: {name: id}, users: {key: userid}}
        self.missing = set()      # parts of a state this simulator cannot hold

    def close(self):
        self.sim.stop()

    # -- building ---------------------------------------------------------------------------

    def build(self, state, instances, users, anchor, end):
        """One state's course as recorded: ``instances`` (Moodle's order) and ``users`` {key: named snapshot}."""
        courseid = self.sim.add_course(shortname(state), idnumber=shortname(state), category=self.category)
        userids = dict((key, self._user(state, key, snapshot)) for key, snapshot in sorted(users.items()))
        ids = {}
        for instance in instances:
            ids[instance['name']] = self._instance(state, courseid, instance, users, userids)
        for key, snapshot in sorted(users.items()):
            self._enrolments(ids, userids[key], snapshot, anchor, end)
            self._roles(courseid, ids, userids[key], snapshot)
        self.courses[state] = {'courseid': courseid, 'instances': ids, 'users': userids}
        return courseid

    def _user(self, state, key, snapshot):
        userid = self.sim.add_user(username(state, key), firstname='Oracle', lastname='%s %s' % (state, key))
        if snapshot['account_suspended']:
            self.sim.set_user_flags(userid, suspended=1)
        for role in snapshot['category_roles']:
            self._category_role(userid, role)
        return userid

    def _category_role(self, userid, role):
        """A role in the courses' category (a simulator without category roles cannot hold it: the state
        is then built without it, and reading it back shows the difference)."""
        assign = getattr(self.sim, 'assign_category_role', None)
        if assign is None:
            self.missing.add('roles in a category (Simulator.assign_category_role)')
            return
        assign(self.category, userid, self.roleids[role])

    def _instance(self, state, courseid, instance, users, userids):
        customint1 = None
        if instance['enrol'] == 'cohort':
            members = [userids[key] for key, snapshot in sorted(users.items())
                       if any(e['instance'] == instance['name'] for e in snapshot['enrolments'])]
            name = 'orc_%s_%s' % (state, instance['name'].split(':', 1)[1])
            customint1 = self.sim.add_cohort(name, idnumber=name, members=members)
        roleid = self.roleids[instance['role']] if instance['role'] else 0
        return self.sim.add_instance(courseid, instance['enrol'], status=instance['status'], roleid=roleid,
                                     customint1=customint1, sortorder=instance['sortorder'])

    def _enrolments(self, ids, userid, snapshot, anchor, end):
        for enrolment in snapshot['enrolments']:
            self.sim.enrol(ids[enrolment['instance']], userid, roleid=0, status=enrolment['status'],
                           timestart=oracle_compare.unname_time(enrolment['timestart'], anchor, end),
                           timeend=oracle_compare.unname_time(enrolment['timeend'], anchor, end))

    def _roles(self, courseid, ids, userid, snapshot):
        for role in snapshot['roles']:
            itemid = ids[role['instance']] if role['component'] else 0
            self.sim.assign_role(courseid, userid, self.roleids[role['role']], role['component'], itemid)

    # -- running and reading ------------------------------------------------------------------

    def run_role(self, workdir, end_date, timeout=1800):
        """ansible-playbook playbooks/keep_access.yml over every built course; returns (exit code, output)."""
        inventory = os.path.join(workdir, 'inventory')
        runner.write_site(inventory, self.sim.url, SITE_GROUP, SERVICE_TOKEN, {
            'keep_access_end': end_date,
            'keep_access_backup_dir': os.path.join(workdir, 'backups'),
            'keep_access_report_dir': os.path.join(workdir, 'reports'),
        }, extra={'shortname_pattern': '^ORC-.*-%s$' % OUR_COPY})
        return runner.run_playbook(inventory, timeout=timeout)

    def snapshot(self, state, anchor, end):
        """{key: named snapshot} of one state's course, read from the simulator's tables."""
        course = self.courses[state]
        names = dict((instanceid, name) for name, instanceid in course['instances'].items())
        answer = self.sim.course_enrolments(course['courseid'])
        shortnames = dict((r['id'], r['shortname']) for r in answer['roles'])
        categories = [ra for ra in self.sim.dump_state()['tables'].get('category_role_assignments', ())
                      if ra['categoryid'] == self.category]
        snapshots = {}
        for key, userid in course['users'].items():
            instances = dict((i['id'], i['status']) for i in answer['instances'])
            user = self.sim.state.user(userid)
            snapshots[key] = oracle_compare.named_snapshot({
                'account_suspended': user['suspended'],
                'category_roles': [shortnames[ra['roleid']] for ra in categories if ra['userid'] == userid],
                'enrolments': [{'instance': names[ue['enrolid']], 'instance_status': instances[ue['enrolid']],
                                'status': ue['status'], 'timestart': ue['timestart'], 'timeend': ue['timeend']}
                               for ue in answer['userenrolments'] if ue['userid'] == userid],
                'roles': [{'role': ra['roleshortname'], 'component': ra['component'],
                           'instance': names.get(ra['itemid']) if ra['component'] else None}
                          for ra in answer['roleassignments'] if ra['userid'] == userid],
            }, anchor, end)
        return snapshots

    def end_of(self, end_date):
        """Step 3's end as the simulated site computes it: 23:59:59 of the date in its time zone."""
        return oracle_compare.end_of_day(end_date, self.sim.state.site['timezone'])
