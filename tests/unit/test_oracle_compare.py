# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oracle's judge (tests/live/oracle_compare.py): which differences between Moodle's own procedure
and our role count as a documented deviation, and which fail the oracle and the parity test."""

import pytest

from tests.live import oracle_compare as oc

ANCHOR = 1796083200          # 2026-12-01T00:00:00Z
END = ANCHOR + 365 * oc.DAY + 3600
ALL_BULLETS = frozenset(d.readme for d in oc.DEVIATIONS)
INSTANCES = [{'name': 'manual', 'enrol': 'manual', 'status': 0, 'role': 'student', 'sortorder': 0},
             {'name': 'database', 'enrol': 'database', 'status': 0, 'role': None, 'sortorder': 1},
             {'name': 'self', 'enrol': 'self', 'status': 0, 'role': 'student', 'sortorder': 2}]


def enrolment(instance, status=0, timestart=0, timeend=0, instance_status=0):
    return {'instance': instance, 'instance_status': instance_status, 'status': status,
            'timestart': timestart, 'timeend': timeend}


def role(name, component='', instance=None):
    return {'role': name, 'component': component, 'instance': instance}


def snapshot(enrolments=(), roles=(), category_roles=()):
    return {'account_suspended': 0, 'category_roles': list(category_roles), 'enrolments': list(enrolments),
            'roles': list(roles)}


def manual(status=0, timestart=0, timeend=0, roles=('student',)):
    return {'manual': {'status': status, 'timestart': timestart, 'timeend': timeend}, 'roles': list(roles)}


NONE = {'manual': None, 'roles': []}


def judge_one(before, moodle, ours, documented=ALL_BULLETS, instances=None, sync_changed=False):
    user = {'before': before, 'moodle': moodle, 'ours': ours, 'sync_changed': sync_changed}
    states = {'s': {'instances': INSTANCES if instances is None else instances, 'users': {'u': user}}}
    return oc.verdict('test', states, documented)


@pytest.mark.parametrize('value, name', [(0, 0), (END, 'END'), (ANCHOR - 30 * oc.DAY, '-30d'),
                                         (ANCHOR + 60 * oc.DAY, '+60d'), (ANCHOR + 61, 'anchor+61s')])
def test_times_are_named_relative_to_the_anchor_and_back(value, name):
    assert oc.name_time(value, ANCHOR, END) == name
    assert oc.unname_time(name, ANCHOR, END) == value


def test_the_end_is_the_last_second_of_the_day_in_the_sites_zone():
    assert oc.end_of_day('2027-06-30', 'Europe/London') == 1814396399     # 22:59:59Z, summer time
    assert oc.end_of_day('2027-01-31', 'UTC') == 1801439999


def test_only_the_bullets_of_the_deviation_section_count():
    readme = ('## Modules\n- **No welcome messages.** elsewhere\n### What differs from doing it by hand\n\n'
              'Intro.\n\n- **A suspended manual enrolment stays suspended.** text\n  more\n'
              '- **Only the backed-up methods.** text\n\n## Role keep_access\n- **Not this.**\n')
    assert oc.documented_bullets(readme) == {'A suspended manual enrolment stays suspended.',
                                             'Only the backed-up methods.'}


def test_an_expired_former_student_given_the_end_is_undocumented():
    before = snapshot([enrolment('manual', 0, '-400d', '-30d')], [role('student')])
    verdict = judge_one(before, manual(0, '-400d', '-30d'), manual(0, '-400d', 'END'))
    assert [(j.difference.field, j.difference.moodle, j.difference.ours, j.kind) for j in verdict.judged] == [
        ('timeend', '-30d', 'END', None)]
    assert 'UNDOCUMENTED' in verdict.table(only_undocumented=True)


def test_equal_outcomes_make_no_difference():
    before = snapshot([enrolment('database')], [role('student', 'enrol_database', 'database')])
    verdict = judge_one(before, manual(0, 0, 'END'), manual(0, 0, 'END'))
    assert verdict.judged == [] and verdict.users_compared == 1 and verdict.states == 1


def suspended_manual_active_database():
    return snapshot([enrolment('manual', status=1), enrolment('database')],
                    [role('student'), role('student', 'enrol_database', 'database')])


def test_a_suspended_manual_enrolment_kept_suspended_is_the_documented_deviation():
    verdict = judge_one(suspended_manual_active_database(), manual(0, 0, 'END'), manual(1, 0, 'END'))
    assert [(j.difference.field, j.kind) for j in verdict.judged] == [('status', 'kept_suspended')]
    assert verdict.undocumented == []


def test_a_deviation_the_readme_does_not_document_fails():
    verdict = judge_one(suspended_manual_active_database(), manual(0, 0, 'END'), manual(1, 0, 'END'),
                        documented=ALL_BULLETS - {'A suspended manual enrolment stays suspended.'})
    assert len(verdict.undocumented) == 1
    assert 'does not document' in verdict.undocumented[0].readme


def test_a_suspended_enrolment_that_ours_changed_is_not_excused():
    # ours re-dated the suspended enrolment: not what the README promises
    verdict = judge_one(suspended_manual_active_database(), manual(0, 0, 'END'), manual(1, '-10d', 'END'))
    judged = {(j.difference.field, j.kind) for j in verdict.judged}
    assert judged == {('status', 'kept_suspended'), ('timestart', None)}


def test_a_role_the_service_user_may_not_assign_is_excused_only_for_that_role():
    before = snapshot([enrolment('database')], [role('manager', 'enrol_database', 'database'),
                                                role('student', 'enrol_database', 'database')])
    skipped_manager = judge_one(before, manual(0, 0, 'END', ('manager', 'student')), manual(0, 0, 'END'))
    assert [(j.difference.field, j.kind) for j in skipped_manager.judged] == [('role manager', 'role_not_assignable')]
    course_failed = judge_one(before, manual(0, 0, 'END', ('manager', 'student')), NONE)
    assert {j.difference.field: j.kind for j in course_failed.judged} == {
        'enrolment': None, 'role manager': 'role_not_assignable', 'role student': None}


def test_a_method_we_do_not_back_up_is_excused_when_ours_left_the_user_alone():
    before = snapshot([enrolment('self')], [role('student', 'enrol_self', 'self')])
    verdict = judge_one(before, manual(0, 0, 'END'), NONE)
    assert {j.kind for j in verdict.judged} == {'only_backed_up_methods'}


def test_a_disabled_manual_instance_excuses_only_a_course_left_alone():
    before = snapshot([enrolment('database')], [role('student', 'enrol_database', 'database')])
    disabled = [dict(i, status=1) if i['enrol'] == 'manual' else i for i in INSTANCES]
    assert {j.kind for j in judge_one(before, manual(0, 0, 'END'), NONE, instances=disabled).judged} == {
        'manual_instance'}
    assert {j.kind for j in judge_one(before, manual(0, 0, 'END'), NONE).judged} == {None}


def test_the_restores_enrolment_sync_excuses_the_users_it_changed():
    before = snapshot([enrolment('database')], [role('student', 'enrol_database', 'database')])
    verdict = judge_one(before, manual(0, 0, 0), manual(0, 0, 'END'), sync_changed=True)
    assert {j.kind for j in verdict.judged} == {'no_enrolment_sync'}


def test_the_summary_counts_states_users_and_differences_by_kind():
    before = snapshot([enrolment('manual', 0, '-400d', '-30d')], [role('student')])
    verdict = judge_one(before, manual(0, '-400d', '-30d'), manual(0, '-400d', 'END'))
    assert verdict.summary() == 'test: 1 states, 1 users compared, 1 differences (UNDOCUMENTED 1)'
