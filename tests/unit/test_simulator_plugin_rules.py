# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's local_keepaccess_* functions follow the plugin's PHP source rule by rule.

Two halves that keep each other honest: the source tests read the plugin
(roles/moodle_companion/files/local_keepaccess) and pin the order of its checks, its
parameters and result fields and its version; the behaviour tests send the simulator requests
that break two checks at once and expect the check the plugin runs first to answer.
When the plugin changes, a source test fails and names what the simulator must follow.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.simulator import Simulator
from tests.simulator.client import call
from tests.simulator.companion import PLUGIN_DIR
from tests.simulator.registry import IMPLEMENTED, PLUGIN_VERSION
from tests.simulator.protocol import Multiple, Single

KA1, KA3, KA4 = 2, 4, 5
PROBE, OTHER = 45, 46                # student0101, student0102: in KA2 only
DATABASE_USER = 5                    # student0001, KA1 via database
MANUAL_ACTIVE, DB_AND_COHORT = 85, 89       # KA3: student0216 (manual), student0220 (database + cohort)
T1, T2 = 1800000000, 1900000000
MANAGER, TEACHER, STUDENT = 1, 4, 5
FUNCTIONS = ('get_course_enrolments', 'apply_manual_enrolments', 'remove_manual_enrolments', 'ensure_manual_instance',
             'get_course_history', 'claim_course', 'release_course', 'get_site_settings')


# ----- the PHP source -------------------------------------------------------------------------------
def php(relative):
    with open(os.path.join(PLUGIN_DIR, relative), encoding='utf-8') as handle:
        return handle.read()


def method_body(source, name):
    """The text of one PHP method, from its signature to the next method."""
    start = source.index('function %s(' % name)
    following = source.find('    public static function', start + 1)
    private = source.find('    private static function', start + 1)
    ends = [end for end in (following, private) if end > 0]
    return source[start:min(ends)] if ends else source[start:]


# Calls in each execute(), in the order the plugin makes them (the first failing one answers).
CHECK_ORDER = {
    'get_course_enrolments': ['validate_parameters', "'invalidpaging'", 'course_target::load', 'validate_context',
                              "require_capability('moodle/course:enrolreview'", 'page_upper_bound'],
    'apply_manual_enrolments': ['validate_parameters', 'course_target::load', 'validate_context',
                                "require_capability('enrol/manual:enrol'", 'require_manual_instance()',
                                'require_unique_users', 'require_real_users', 'request_checks::assignable_roles',
                                'course_guard::require_valid_runid', 'course_guard::lock',
                                'course_guard::require_writable', 'plan_rows',
                                "require_capability('enrol/manual:manage'", 'start_delegated_transaction',
                                'apply_plan', '$created->write()', '$roles->write()', 'history::insert_all',
                                'with_new_ueids', 'allow_commit', '$lock->release()'],
    'remove_manual_enrolments': ['validate_parameters', 'course_target::load', 'validate_context',
                                 'require_unique_users', 'require_known_users', 'require_assignable_roles',
                                 "require_capability('enrol/manual:unenrol'", 'require_manual_instance()',
                                 'course_guard::require_valid_runid', 'course_guard::lock',
                                 'course_guard::require_writable', 'start_delegated_transaction', 'remove_row',
                                 'allow_commit', '$lock->release()'],
    'get_course_history': ['validate_parameters', "'invalidhistorypaging'", 'course_target::load', 'validate_context',
                           "require_capability('moodle/course:enrolreview'", 'history::of_course'],
    'claim_course': ['validate_parameters', 'course_target::load', 'validate_context',
                     "require_capability('enrol/manual:enrol'", 'course_guard::require_valid_runid',
                     'course_guard::claim'],
    'get_site_settings': ['validate_parameters', 'validate_context', "require_capability('moodle/course:enrolreview'",
                          "get_config('local_keepaccess', 'version')"],
    'release_course': ['validate_parameters', 'course_target::load', 'validate_context',
                       "require_capability('enrol/manual:enrol'", 'course_guard::release'],
    'ensure_manual_instance': ['validate_parameters', 'course_target::load', 'validate_context',
                               "require_capability('moodle/course:enrolconfig'",
                               "require_capability('enrol/manual:config'", "'manualplugindisabled'",
                               'start_delegated_transaction'],
}
# Checks inside the helpers, in order.
HELPER_ORDER = {
    ('classes/local/request_checks.php', 'require_real_users'): ["'unknownuser'", "'deleteduser'", "'guestuser'"],
    ('classes/local/request_checks.php', 'require_assignable_roles'): [
        "require_capability('moodle/role:assign'", 'get_assignable_roles', "'cannotassignrole'"],
    ('classes/external/apply_manual_enrolments.php', 'plan_row'): ['require_valid_status', 'require_valid_times'],
    # a role already held is left alone, one the caller may not assign is skipped (never an error);
    # the history row is built after the row's enrolment and roles (new enrolments and role copies are written
    # once per call, after the rows: new enrolments first)
    ('classes/external/apply_manual_enrolments.php', 'apply_plan'): [
        '$created->add(', 'update_user_enrol', 'array_unique', '$heldroles[$roleid]', '$assignable[$roleid]',
        '$skipped[] = $roleid', '$roles->add(', 'history::build', "'rolesskipped' => $skipped"],
    # what role_assign() does for each assignment: users checked, rows, users dirty, category caches, event
    ('classes/local/role_copies.php', 'write'): [
        'require_live_users', "insert_records('role_assignments'", 'ids_of', 'mark_users_dirty',
        'role_assignment_changed', 'announce'],
    # what enrol_user() does for each new enrolment: rows, then per row event, contacts cache, hook, grades
    ('classes/local/new_enrolments.php', 'write'): ["insert_records('user_enrolments'", 'ids_of', 'announce'],
    ('classes/local/new_enrolments.php', 'announce'): [
        'user_enrolment_created::create', 'trigger()', 'user_enrolment_changed', 'after_user_enrolled',
        'grade_recover_history_grades'],
    ('classes/local/role_copies.php', 'announce'): [
        'role_assigned::create', 'add_record_snapshot', 'trigger()', 'after_role_assigned'],
    ('classes/external/get_course_enrolments.php', 'execute'): [
        "'roleassignments' => $reader->role_assignments", "'inheritedroleassignments' => $reader->inherited_",
        "'assignableroles' => $reader->assignable_roles()"],
    ('classes/external/remove_manual_enrolments.php', 'remove_row'): [
        'unassign_manual_roles', 'unenrol_user', 'history::record'],
    ('classes/local/course_guard.php', 'claim'): ["'invalidclaim'", 'self::lock', 'require_not_held_by_other',
                                                  'insert_record', '$lock->release()'],
    ('classes/local/course_guard.php', 'require_writable'): ['require_not_held_by_other', "'claimrequired'"],
    ('classes/local/history.php', 'record'): ['self::build', 'insert_record'],
    ('classes/local/history.php', 'build'): ['$before === $after', 'return null', "'timecreated' => time()"],
}
# The read's parent-context assignments: only the course's parent contexts, only users enrolled in the course.
INHERITED_SQL = ['get_parent_context_ids(false)', 'ra.contextid $contextsql', 'FROM {user_enrolments} ue',
                 'e.courseid = :courseid AND ue.userid = ra.userid', 'ORDER BY ra.userid, ra.id']


def test_plugin_reads_parent_context_roles_of_enrolled_users_only():
    body = method_body(php('classes/local/enrolment_reader.php'), 'inherited_role_assignments')
    assert in_order(body, INHERITED_SQL)
    assert 'get_assignable_roles($this->target->context, ROLENAME_SHORT)' in method_body(
        php('classes/local/enrolment_reader.php'), 'assignable_roles')


def in_order(text, calls):
    positions = [text.find(call) for call in calls]
    return -1 not in positions and positions == sorted(positions)


@pytest.mark.parametrize('function', FUNCTIONS)
def test_plugin_checks_in_the_order_the_simulator_follows(function):
    body = method_body(php('classes/external/%s.php' % function), 'execute')
    assert in_order(body, CHECK_ORDER[function]), 'local_keepaccess_%s changed its checks: update the simulator' % (
        function)


@pytest.mark.parametrize('where', sorted(HELPER_ORDER), ids=lambda where: where[1])
def test_plugin_helpers_check_in_the_order_the_simulator_follows(where):
    assert in_order(method_body(php(where[0]), where[1]), HELPER_ORDER[where])


def php_keys(text):
    """Structure keys of an external description, in order (nested ones flattened)."""
    return re.findall(r"'(\w+)'\s*=>\s*new external_", text)


def simulator_keys(description):
    """The same flattening for the simulator's parameter description."""
    keys = []
    for key, value in description.items():
        keys.append(key)
        while isinstance(value, Multiple):
            value = value.item
        if isinstance(value, Single):
            keys.extend(simulator_keys(value.keys))
    return keys


@pytest.mark.parametrize('function', FUNCTIONS)
def test_parameters_are_the_plugins(function):
    source = method_body(php('classes/external/%s.php' % function), 'execute_parameters')
    assert simulator_keys(IMPLEMENTED['local_keepaccess_' + function].params) == php_keys(source)


def answer_keys(answer):
    """Keys of an answer in order, nested ones flattened (lists: their first element)."""
    keys = []
    for key, value in answer.items():
        keys.append(key)
        while isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            keys.extend(answer_keys(value))
    return keys


def test_plugin_version_is_version_php():
    assert re.search(r'\$plugin->version\s*=\s*(\d+);', php('version.php')).group(1) == str(PLUGIN_VERSION)


# ----- the simulator --------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def server():
    sim = Simulator(version='4.5', fixture='recorded').start()
    yield sim
    sim.stop()


class Site:
    """The recorded fixture, fresh for each test, with the service user's token and restricted tokens."""

    def __init__(self, sim):
        sim.reset('recorded', '4.5')
        self.sim = sim
        self.token = 'rules-service-token-000000001'
        sim.add_service_token(self.token)

    def call(self, function, token=None, **params):
        return call(self.sim.url, token or self.token, 'local_keepaccess_' + function, params)

    def without(self, *capabilities):
        """A token of the admin lacking some capabilities."""
        token = 'rules-token-without-%d' % len(self.sim.token_info())
        self.sim.add_token(token, functions=list(IMPLEMENTED), missing_capabilities=capabilities)
        return token

    def error(self, function, token=None, **params):
        answer = self.call(function, token, **params)
        assert isinstance(answer, dict) and 'errorcode' in answer, answer
        return answer['errorcode']

    def manual(self, courseid, userid):
        rows = [ue for ue in self.sim.course_enrolments(courseid)['userenrolments']
                if ue['userid'] == userid and ue['enrol'] == 'manual']
        return (rows[0]['status'], rows[0]['timestart'], rows[0]['timeend']) if rows else None

    def roles(self, courseid, userid):
        return sorted((ra['roleid'], ra['component']) for ra in self.sim.course_enrolments(courseid)['roleassignments']
                      if ra['userid'] == userid)


@pytest.fixture
def site(server):
    return Site(server)


@pytest.mark.parametrize('function,params', [
    ('get_course_enrolments', {'courseid': KA1}),
    ('apply_manual_enrolments', {'courseid': KA1, 'enrolments': [{'userid': PROBE, 'roleids': [STUDENT, MANAGER]}]}),
    ('remove_manual_enrolments',
     {'courseid': KA1, 'enrolments': [{'userid': PROBE, 'unenrol': 1, 'roleids': [STUDENT]}]}),
    ('ensure_manual_instance', {'courseid': KA1}),
    ('get_course_history', {'courseid': KA1}),
    ('claim_course', {'courseid': KA1, 'runid': 'run-1'}),
    ('release_course', {'courseid': KA1, 'runid': 'run-1'}),
    ('get_site_settings', {}),
])
def test_result_fields_are_the_plugins(site, function, params):
    if function in ('remove_manual_enrolments', 'get_course_history'):
        site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'roleids': [STUDENT]}])
    if function == 'get_course_enrolments':       # a category role, so that the list has a row to look at
        site.sim.assign_category_role(site.sim.state.course(KA1)['category'], DATABASE_USER, TEACHER)
    answer = site.call(function, **params)
    answer = answer[0] if isinstance(answer, list) else answer
    source = method_body(php('classes/external/%s.php' % function), 'execute_returns')
    assert answer_keys(answer) == php_keys(source)


# -- get_course_enrolments --
def test_get_checks_paging_before_the_course_and_the_course_before_the_capability(site):
    assert site.error('get_course_enrolments', courseid=987654, maxusers=-1) == 'invalidpaging'
    token = site.without('moodle/course:enrolreview')
    assert site.error('get_course_enrolments', token, courseid=987654) == 'coursenotfound'
    assert site.error('get_course_enrolments', token, courseid=KA1) == 'nopermissions'
    assert site.error('get_course_enrolments', courseid=1) == 'coursenotfound'      # the front page


def page_users(answer):
    return sorted(set(row['userid'] for row in answer['userenrolments'] + answer['roleassignments']))


def test_paging_rule_next_is_the_last_user_of_a_page_that_is_not_the_last(site):
    everybody = page_users(site.call('get_course_enrolments', courseid=KA3))
    assert len(everybody) == 24
    short = site.call('get_course_enrolments', courseid=KA3, maxusers=23)
    assert (len(page_users(short)), short['nextfromuserid']) == (23, everybody[22])
    exact = site.call('get_course_enrolments', courseid=KA3, maxusers=24)
    assert (len(page_users(exact)), exact['nextfromuserid']) == (24, 0)
    rest = site.call('get_course_enrolments', courseid=KA3, fromuserid=everybody[22], maxusers=5)
    assert (page_users(rest), rest['nextfromuserid']) == ([everybody[23]], 0)     # fromuserid is exclusive
    beyond = site.call('get_course_enrolments', courseid=KA3, fromuserid=everybody[-1])
    assert (beyond['userenrolments'], beyond['roleassignments'], beyond['nextfromuserid']) == ([], [], 0)


def test_a_page_holds_every_row_of_its_users_and_users_with_only_a_role(site):
    site.sim.assign_role(KA3, OTHER, TEACHER)           # a role, no enrolment: still a user of the course
    everybody = page_users(site.call('get_course_enrolments', courseid=KA3))
    assert OTHER in everybody
    until = everybody.index(DB_AND_COHORT) + 1
    page = site.call('get_course_enrolments', courseid=KA3, maxusers=until)
    assert page['nextfromuserid'] == DB_AND_COHORT
    assert [ue['enrol'] for ue in page['userenrolments'] if ue['userid'] == DB_AND_COHORT] == ['cohort', 'database']
    assert len([ra for ra in page['roleassignments'] if ra['userid'] == DB_AND_COHORT]) == 2


def test_an_enrolment_without_its_user_row_reads_as_a_deleted_account(site):
    site.sim.state.delete('users', MANUAL_ACTIVE)
    row = next(ue for ue in site.call('get_course_enrolments', courseid=KA3)['userenrolments']
               if ue['userid'] == MANUAL_ACTIVE)
    assert (row['username'], row['userdeleted'], row['usersuspended']) == ('', 1, 0)


def test_roles_are_every_site_role_by_sortorder(site):
    roles = site.call('get_course_enrolments', courseid=KA1)['roles']
    assert [r['shortname'] for r in roles] == ['manager', 'coursecreator', 'editingteacher', 'teacher', 'student',
                                               'guest', 'user', 'frontpage', 'keepaccess_ws']
    assert roles[-1]['name'] == 'Keep access web service'


# -- apply_manual_enrolments --
def test_apply_validates_parameters_before_the_course_and_the_course_before_capabilities(site):
    assert site.error('apply_manual_enrolments', courseid=987654,
                      enrolments=[{'userid': PROBE, 'roleid': STUDENT}]) == 'invalidparameter'
    token = site.without('enrol/manual:enrol')
    assert site.error('apply_manual_enrolments', token, courseid=987654,
                      enrolments=[{'userid': PROBE}]) == 'coursenotfound'
    assert site.error('apply_manual_enrolments', token, courseid=KA4, enrolments=[{'userid': PROBE}]) == \
        'nopermissions'


def test_apply_needs_the_manual_instance_before_looking_at_rows(site):
    rows = [{'userid': PROBE}, {'userid': PROBE}]
    assert site.error('apply_manual_enrolments', courseid=KA4, enrolments=rows) == 'nomanualinstance'
    site.sim.set_enrol_plugin_enabled('manual', False)      # enrol_get_instances(..., true): enabled plugins only
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}]) == 'nomanualinstance'


def test_apply_checks_duplicates_then_users_row_by_row(site):
    site.sim.set_user_flags(OTHER, deleted=True)
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': 987654}, {'userid': PROBE}, {'userid': PROBE}]) == 'duplicateuser'
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': OTHER}, {'userid': 987654}]) == 'deleteduser'
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': 987654}, {'userid': OTHER}]) == 'unknownuser'
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': 1}]) == 'guestuser'


def test_apply_checks_users_then_rows_and_skips_roles_it_may_not_assign(site):
    token = site.without('moodle/role:assign')
    assert site.error('apply_manual_enrolments', token, courseid=KA1, enrolments=[
        {'userid': 987654, 'roleids': [STUDENT]}]) == 'unknownuser'
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': OTHER, 'roleids': [MANAGER], 'status': 2}]) == 'invalidstatus'
    [row] = site.call('apply_manual_enrolments', token, courseid=KA1,
                      enrolments=[{'userid': PROBE, 'roleids': [STUDENT]}])
    assert (row['result'], row['rolesassigned'], row['rolesskipped']) == ('created', [], [STUDENT]), \
        'without moodle/role:assign get_assignable_roles() gives nothing: the role is skipped, the row applied'
    rows = site.call('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': OTHER, 'roleids': [MANAGER, STUDENT, MANAGER]}, {'userid': PROBE, 'roleids': [STUDENT]}])
    assert [(r['result'], r['rolesassigned'], r['rolesskipped']) for r in rows] == [
        ('created', [STUDENT], [MANAGER]), ('unchanged', [STUDENT], [])]
    assert site.roles(KA1, OTHER) == [(STUDENT, '')]


def test_apply_does_not_report_a_role_already_held_as_skipped(site):
    site.sim.assign_role(KA1, PROBE, MANAGER)
    [row] = site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'roleids': [MANAGER]}])
    assert (row['rolesassigned'], row['rolesskipped']) == ([], [])


def test_get_lists_category_roles_of_enrolled_users_apart_and_the_roles_the_caller_may_assign(site):
    category = site.sim.state.course(KA1)['category']
    site.sim.assign_category_role(category, DATABASE_USER, STUDENT)
    site.sim.assign_category_role(category, PROBE, TEACHER)          # PROBE is not enrolled in KA1
    answer = site.call('get_course_enrolments', courseid=KA1)
    assert [(ra['userid'], ra['roleid'], ra['contextlevel']) for ra in answer['inheritedroleassignments']] == [
        (DATABASE_USER, STUDENT, 40)]
    assert all(ra['component'] != '' or ra['userid'] != DATABASE_USER for ra in answer['roleassignments'])
    assert answer['assignableroles'] == [3, TEACHER, STUDENT], 'by role sortorder: editingteacher, teacher, student'
    admin = call(site.sim.url, site.sim.token, 'local_keepaccess_get_course_enrolments', {'courseid': KA1})
    assert admin['assignableroles'] == [MANAGER, 3, TEACHER, STUDENT]
    page = site.call('get_course_enrolments', courseid=KA1, fromuserid=DATABASE_USER)
    assert page['inheritedroleassignments'] == [], 'paged with their user'


def test_apply_plans_row_by_row_status_before_times(site):
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': PROBE, 'timestart': T2, 'timeend': T1}, {'userid': OTHER, 'status': 2}]) == 'invalidtimes'
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': PROBE, 'status': 2, 'timestart': T2, 'timeend': T1}]) == 'invalidstatus'


def test_apply_checks_times_merged_with_the_current_ones_only_when_a_time_is_given(site):
    site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'timestart': T2}])
    answer = site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'timeend': T1}])
    assert answer['errorcode'] == 'invalidtimes' and 'timeend %d is before timestart %d' % (T1, T2) in answer['message']
    assert site.call('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': PROBE, 'status': 1}])[0]['result'] == 'updated'


def test_apply_needs_manage_only_for_updated_rows_and_after_planning(site):
    site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE}])
    token = site.without('enrol/manual:manage')
    assert [r['result'] for r in site.call('apply_manual_enrolments', token, courseid=KA1, enrolments=[
        {'userid': PROBE, 'status': 0}, {'userid': OTHER}])] == ['unchanged', 'created']
    assert site.error('apply_manual_enrolments', token, courseid=KA1, enrolments=[
        {'userid': PROBE, 'timeend': T1}]) == 'nopermissions'
    assert site.error('apply_manual_enrolments', token, courseid=KA1, enrolments=[
        {'userid': PROBE, 'timeend': T1}, {'userid': OTHER, 'timestart': T2, 'timeend': T1}]) == 'invalidtimes'


def test_apply_writes_only_given_differing_fields_and_new_manual_roles(site):
    created = site.call('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': DATABASE_USER, 'timestart': T1, 'roleids': [STUDENT, TEACHER, STUDENT]}])[0]
    assert (created['result'], created['rolesassigned']) == ('created', [STUDENT, TEACHER])
    assert created['ueid'] == next(ue['id'] for ue in site.sim.course_enrolments(KA1)['userenrolments']
                                   if ue['userid'] == DATABASE_USER and ue['enrol'] == 'manual')
    updated = site.call('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': DATABASE_USER, 'timeend': T2, 'roleids': [TEACHER]}])[0]
    assert (updated['result'], updated['rolesassigned'], updated['ueid']) == ('updated', [], created['ueid'])
    assert site.manual(KA1, DATABASE_USER) == (0, T1, T2)
    assert site.roles(KA1, DATABASE_USER) == [(TEACHER, ''), (STUDENT, ''), (STUDENT, 'enrol_database')]


def test_apply_is_all_rows_or_none(site):
    before = site.sim.course_enrolments(KA1)
    assert site.error('apply_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': PROBE, 'roleids': [STUDENT]}, {'userid': OTHER, 'timestart': -1}]) == 'invalidtimes'
    assert site.sim.course_enrolments(KA1) == before


def test_welcome_only_for_created_rows_with_sendwelcome_and_the_course_setting(site):
    site.call('apply_manual_enrolments', courseid=KA1, sendwelcome=1, enrolments=[{'userid': PROBE}])
    site.call('apply_manual_enrolments', courseid=KA1, sendwelcome=1, enrolments=[{'userid': PROBE, 'timeend': T2}])
    site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': OTHER}])
    assert [m['userid'] for m in site.sim.messages()] == [PROBE]
    site.sim.update_instance(site.sim.manual_instance(KA1)['id'], customint1=0)
    site.call('apply_manual_enrolments', courseid=KA1, sendwelcome=1, enrolments=[{'userid': DATABASE_USER}])
    assert len(site.sim.messages()) == 1


# -- remove_manual_enrolments --
def test_remove_checks_duplicates_then_known_users_and_accepts_deleted_ones(site):
    assert site.error('remove_manual_enrolments', courseid=987654, enrolments=[{'userid': PROBE}]) == 'coursenotfound'
    assert site.error('remove_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': 987654}, {'userid': PROBE}, {'userid': PROBE}]) == 'duplicateuser'
    site.sim.set_user_flags(OTHER, deleted=True)
    assert site.call('remove_manual_enrolments', courseid=KA1, enrolments=[{'userid': OTHER, 'unenrol': 1}]) == [
        {'userid': OTHER, 'unenrolled': 0, 'rolesunassigned': [], 'fieldsreverted': []}]
    assert site.error('remove_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': 987654, 'roleids': [MANAGER]}]) == 'unknownuser'


def test_remove_checks_roles_before_the_unenrol_capability_and_the_instance(site):
    token = site.without('moodle/role:assign', 'enrol/manual:unenrol')
    answer = site.call('remove_manual_enrolments', token, courseid=KA4, enrolments=[
        {'userid': 94, 'unenrol': 1, 'roleids': [STUDENT]}])
    assert answer['errorcode'] == 'nopermissions' and 'Assign roles to users' in answer['message']
    assert site.error('remove_manual_enrolments', courseid=KA4, enrolments=[
        {'userid': 94, 'roleids': [MANAGER]}]) == 'cannotassignrole'
    token = site.without('enrol/manual:unenrol')
    assert site.error('remove_manual_enrolments', token, courseid=KA4, enrolments=[
        {'userid': 94, 'unenrol': 1}]) == 'nopermissions'
    assert site.error('remove_manual_enrolments', courseid=KA4, enrolments=[
        {'userid': 94, 'unenrol': 1}]) == 'nomanualinstance'
    assert site.call('remove_manual_enrolments', token, courseid=KA4, enrolments=[
        {'userid': 94, 'roleids': [STUDENT]}]) == [{'userid': 94, 'unenrolled': 0, 'rolesunassigned': [], 'fieldsreverted': []}]


def test_remove_takes_only_manual_roles_and_the_manual_enrolment(site):
    site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': DATABASE_USER, 'roleids': [STUDENT]}])
    answer = site.call('remove_manual_enrolments', courseid=KA1, enrolments=[
        {'userid': DATABASE_USER, 'unenrol': 1, 'roleids': [STUDENT, STUDENT, TEACHER]}])
    assert answer == [{'userid': DATABASE_USER, 'unenrolled': 1, 'rolesunassigned': [STUDENT], 'fieldsreverted': []}]
    assert site.manual(KA1, DATABASE_USER) is None
    assert site.roles(KA1, DATABASE_USER) == [(STUDENT, 'enrol_database')]


def test_removing_the_last_enrolment_takes_every_role(site):
    site.call('apply_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'roleids': [STUDENT]}])
    site.sim.assign_role(KA1, PROBE, TEACHER, component='enrol_database', itemid=4)
    site.call('remove_manual_enrolments', courseid=KA1, enrolments=[{'userid': PROBE, 'unenrol': 1}])
    assert site.roles(KA1, PROBE) == []


# -- ensure_manual_instance --
def test_ensure_checks_course_capabilities_then_the_site_plugin(site):
    token = site.without('moodle/course:enrolconfig', 'enrol/manual:config')
    assert site.error('ensure_manual_instance', token, courseid=987654) == 'coursenotfound'
    answer = site.call('ensure_manual_instance', token, courseid=KA4)
    assert answer['errorcode'] == 'nopermissions' and 'Configure enrol instances in courses' in answer['message']
    token = site.without('enrol/manual:config')
    assert 'Configure manual enrol instances' in site.call('ensure_manual_instance', token, courseid=KA4)['message']
    site.sim.set_enrol_plugin_enabled('manual', False)
    answer = site.call('ensure_manual_instance', courseid=KA4)
    assert answer == {'exception': 'core\\exception\\moodle_exception', 'errorcode': 'manualplugindisabled',
                      'message': 'The manual enrolment plugin is disabled on this site, so course 5 cannot use a '
                                 'manual enrolment instance.'}


def test_ensure_creates_an_enabled_instance_last_with_the_welcome_off(site):
    answer = site.call('ensure_manual_instance', courseid=KA4, enable=0)
    assert (answer['created'], answer['enabled']) == (1, 0)
    instances = site.call('get_course_enrolments', courseid=KA4)['instances']
    assert [(i['enrol'], i['status'], i['sendwelcome'], i['roleid']) for i in instances][-1] == ('manual', 0, 0, 5)
    assert instances[-1]['id'] == answer['instanceid']


def test_ensure_returns_the_first_enabled_else_enables_the_first(site):
    first = site.sim.manual_instance(KA1)['id']
    second = site.sim.add_instance(KA1, 'manual')
    site.sim.update_instance(first, status=1)
    assert site.call('ensure_manual_instance', courseid=KA1) == {'instanceid': second, 'created': 0, 'enabled': 0}
    site.sim.update_instance(second, status=1)
    assert site.call('ensure_manual_instance', courseid=KA1, enable=0) == {
        'instanceid': first, 'created': 0, 'enabled': 0}
    assert site.call('ensure_manual_instance', courseid=KA1) == {'instanceid': first, 'created': 0, 'enabled': 1}
