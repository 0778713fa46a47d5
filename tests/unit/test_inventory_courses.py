# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory plugin cemu.moodle.courses against a scripted Moodle client.

The client stands in for Moodle with answers shaped like the recordings of
core_course_get_courses_by_field and core_course_get_categories; the end-to-end
run over HTTP is in tests/integration/test_inventory_courses.py.
"""

import os

import pytest

from ansible.errors import AnsibleParserError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

from tests.collection_path import collections_root

if not AnsibleCollectionConfig.collection_finder:
    init_plugin_loader([collections_root()])  # the inventory manager loads plugins by collection name

from ansible_collections.cemu.moodle.plugins.inventory import courses as plugin  # noqa: E402

TOKEN = 'unit-secret-token-0123456789'
URL = 'https://moodle.example.edu'


def course(cid, shortname, category, methods, idnumber='', visible=1, enddate=0):
    return {'id': cid, 'shortname': shortname, 'fullname': shortname + ' course', 'idnumber': idnumber,
            'categoryid': category, 'categoryname': 'Category %d' % category, 'visible': visible,
            'enrollmentmethods': methods, 'format': 'topics', 'summary': 'not copied', 'enddate': enddate}


SITE_COURSES = [
    {'id': 1, 'shortname': 'site', 'fullname': 'Site', 'idnumber': '', 'categoryid': 0, 'categoryname': '',
     'visible': 1, 'enrollmentmethods': [], 'format': 'site'},
    course(2, 'KA1', 2, ['manual', 'database'], idnumber='KA-2026-1'),
    course(3, 'KA2', 2, ['manual', 'cohort'], idnumber='KA-2026-2', enddate=1814392800),
    course(4, 'KA3', 3, ['manual', 'database', 'cohort'], idnumber='KA-2025-3'),
    course(5, 'MANUAL', 2, ['manual']),
    course(6, 'HIDDEN', 3, ['database'], visible=0),
]
CATEGORY_TREE = {2: [2, 3], 3: [3]}


COMPANION_READ = 'local_keepaccess_get_course_enrolments'


def as_least_privilege_user(course):
    """A course answer for a user without moodle/course:update: Moodle leaves the key idnumber out."""
    return dict((key, value) for key, value in course.items() if key != 'idnumber')


class FakeClient:
    calls = []
    least_privilege = False     # course answers without idnumber
    service = ('core_webservice_get_site_info', 'core_course_get_courses_by_field', 'core_course_get_categories',
               COMPANION_READ)

    def __init__(self, url, token, **options):
        self.url = url.rstrip('/')
        FakeClient.calls.append(('connect', url, token, options))

    def site_info(self):
        return {'siteid': 1, 'release': '4.5 (Build: 20241007)'}

    def missing_functions(self, names):
        return [name for name in names if name not in FakeClient.service]

    def call(self, function, params=None, idempotent=False):
        FakeClient.calls.append((function, params))
        if function == 'core_course_get_categories':
            root = params['criteria'][0]['value']
            return [{'id': cid} for cid in CATEGORY_TREE.get(root, [])]
        if function == 'core_course_get_courses_by_field':
            return {'courses': [self._answer(c) for c in self._courses(params)], 'warnings': []}
        if function == COMPANION_READ:
            assert params['maxusers'] == 1
            course = [c for c in SITE_COURSES if c['id'] == params['courseid']][0]
            return {'course': dict((k, course[k]) for k in ('id', 'shortname', 'idnumber', 'fullname')),
                    'userenrolments': [], 'nextfromuserid': 0}
        raise AssertionError('unexpected call ' + function)

    @staticmethod
    def _courses(params):
        if not params:
            return SITE_COURSES
        assert params['field'] == 'category'
        return [c for c in SITE_COURSES if c['categoryid'] == params['value']]

    @staticmethod
    def _answer(course):
        return as_least_privilege_user(course) if FakeClient.least_privilege else course


def companion_reads():
    return sorted(params['courseid'] for function, params in FakeClient.calls[1:] if function == COMPANION_READ)


@pytest.fixture(autouse=True)
def fake_client(monkeypatch):
    FakeClient.calls = []
    FakeClient.least_privilege = False
    monkeypatch.setattr(plugin, 'MoodleClient', FakeClient)
    monkeypatch.delenv('MOODLE_TOKEN', raising=False)
    monkeypatch.delenv('MOODLE_URL', raising=False)


def load(tmp_path, body, name='site.courses.yml'):
    path = tmp_path / name
    path.write_text('plugin: cemu.moodle.courses\n' + body)
    return InventoryManager(loader=DataLoader(), sources=[str(path)])


def hosts(inventory, group='all'):
    return sorted(h.name for h in inventory.get_hosts(group))


def test_default_lists_visible_courses_with_enabled_database_or_cohort_enrolments(tmp_path):
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: %s\n' % (URL, TOKEN))
    assert hosts(inv) == ['KA1', 'KA2', 'KA3']
    assert hosts(inv, 'moodle_example_edu') == ['KA1', 'KA2', 'KA3']


def test_host_vars_name_the_course_and_site_but_not_the_token(tmp_path):
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: %s\n' % (URL, TOKEN))
    hostvars = inv.get_host('KA3').get_vars()
    assert hostvars['moodle_course'] == 4
    assert hostvars['moodle_course_shortname'] == 'KA3'
    assert hostvars['moodle_course_idnumber'] == 'KA-2025-3'
    assert hostvars['moodle_course_category'] == 3
    assert hostvars['moodle_course_methods'] == ['cohort', 'database', 'manual']
    assert hostvars['moodle_url'] == URL
    assert TOKEN not in repr(hostvars)
    assert 'summary' not in repr(hostvars)


def test_host_vars_carry_the_course_end_date_and_every_course_is_in_moodle_courses(tmp_path):
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: %s\n' % (URL, TOKEN))
    assert inv.get_host('KA2').get_vars()['moodle_course_enddate'] == 1814392800
    assert inv.get_host('KA1').get_vars()['moodle_course_enddate'] == 0        # no end date in the course settings
    assert hosts(inv, 'moodle_courses') == ['KA1', 'KA2', 'KA3']


@pytest.mark.parametrize('shortname, host', [
    ('KA1', 'site1-KA1'),
    ("{{ lookup('pipe', 'id') }}", 'site1-course_7'),
    ('{% raw %}', 'site1-course_7'),
    ('A {# note #}', 'site1-course_7'),
    ('', 'site1-course_7'),
    ('{ KA }', 'site1-{ KA }'),
])
def test_a_shortname_that_looks_like_a_template_names_the_host_by_id(shortname, host):
    assert plugin.host_name({'id': 7, 'shortname': shortname}, 'site1-') == host


def test_token_and_url_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('MOODLE_URL', URL)
    monkeypatch.setenv('MOODLE_TOKEN', TOKEN)
    inv = load(tmp_path, '')
    assert hosts(inv) == ['KA1', 'KA2', 'KA3']
    assert FakeClient.calls[0][1:3] == (URL, TOKEN)


def test_categories_with_and_without_subcategories(tmp_path):
    with_sub = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\ncategories: [2]\n' % URL)
    assert hosts(with_sub) == ['KA1', 'KA2', 'KA3']
    only_two = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\ncategories: [2]\ninclude_subcategories: false\n' % URL)
    assert hosts(only_two) == ['KA1', 'KA2']


def test_patterns_hidden_courses_and_methods(tmp_path):
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\nidnumber_pattern: "^KA-2026-"\n' % URL)
    assert hosts(inv) == ['KA1', 'KA2']
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\nshortname_pattern: "3$"\n' % URL)
    assert hosts(inv) == ['KA3']
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\ninclude_hidden: true\nmethods: [database]\n' % URL)
    assert hosts(inv) == ['HIDDEN', 'KA1', 'KA3']
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\nmethods: []\n' % URL)
    assert hosts(inv) == ['KA1', 'KA2', 'KA3', 'MANUAL']


def test_invalid_pattern_names_the_option(tmp_path):
    with pytest.raises(AnsibleParserError, match="idnumber_pattern '\\(' is not a valid regular expression"):
        plugin.compile_pattern('idnumber_pattern', '(')


def test_constructed_groups_keyed_groups_and_compose(tmp_path):
    inv = load(tmp_path, (
        'moodle_url: %s\nmoodle_token: t\nsite_group: main\n'
        'groups:\n  cohort_courses: "\'cohort\' in moodle_course_methods"\n'
        'keyed_groups:\n  - key: moodle_course_category | string\n    prefix: category\n'
        'compose:\n  keep_access_end: "\'2027-03-31\' if moodle_course == 4 else \'2026-12-31\'"\n') % URL)
    assert hosts(inv, 'main') == ['KA1', 'KA2', 'KA3']
    assert hosts(inv, 'cohort_courses') == ['KA2', 'KA3']
    assert hosts(inv, 'category_2') == ['KA1', 'KA2']
    assert inv.get_host('KA3').get_vars()['keep_access_end'] == '2027-03-31'
    assert inv.get_host('KA1').get_vars()['keep_access_end'] == '2026-12-31'


def test_site_group_name_from_the_url():
    assert plugin.site_group_name('https://Moodle.Example.edu/') == 'moodle_example_edu'
    assert plugin.site_group_name('http://127.0.0.1:8765') == 'site_127_0_0_1_8765'
    assert plugin.site_group_name('https://lms.example.org/moodle') == 'lms_example_org_moodle'


def test_two_sites_in_one_inventory_directory(tmp_path):
    (tmp_path / 'a.courses.yml').write_text(
        'plugin: cemu.moodle.courses\nmoodle_url: https://a.example.edu\nmoodle_token: t\nsite_group: site_a\n')
    (tmp_path / 'b.courses.yml').write_text(
        'plugin: cemu.moodle.courses\nmoodle_url: https://b.example.edu\nmoodle_token: t\nsite_group: site_b\n'
        'host_prefix: "b_"\n')
    inv = InventoryManager(loader=DataLoader(), sources=[str(tmp_path)])
    assert hosts(inv, 'site_a') == ['KA1', 'KA2', 'KA3']
    assert hosts(inv, 'site_b') == ['b_KA1', 'b_KA2', 'b_KA3']
    assert inv.get_host('b_KA1').get_vars()['moodle_url'] == 'https://b.example.edu'


def test_same_shortname_on_two_sites_without_prefix_is_refused(tmp_path):
    plugin_inv = inventory_loader.get('cemu.moodle.courses')
    for name, url in (('a.courses.yml', 'https://a.example.edu'), ('b.courses.yml', 'https://b.example.edu')):
        (tmp_path / name).write_text('plugin: cemu.moodle.courses\nmoodle_url: %s\nmoodle_token: t\n' % url)
    inventory = InventoryManager(loader=DataLoader(), sources=[])
    plugin_inv.parse(inventory._inventory, DataLoader(), str(tmp_path / 'a.courses.yml'), cache=False)
    with pytest.raises(AnsibleParserError, match="host 'KA1' is a course of https://a.example.edu and of "
                                                 "https://b.example.edu; set host_prefix"):
        plugin_inv.parse(inventory._inventory, DataLoader(), str(tmp_path / 'b.courses.yml'), cache=False)


def test_only_files_named_courses_yml_are_taken(tmp_path):
    good = tmp_path / 'main.courses.yml'
    other = tmp_path / 'hosts.yml'
    good.write_text('plugin: cemu.moodle.courses\n')
    other.write_text('plugin: cemu.moodle.courses\n')
    module = plugin.InventoryModule()
    assert module.verify_file(str(good))
    assert not module.verify_file(str(other))


def test_cache_answers_the_second_parse_without_calling_moodle(tmp_path):
    body = ('moodle_url: %s\nmoodle_token: t\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n'
            'cache_connection: %s\ncache_timeout: 600\n') % (URL, tmp_path / 'cache')
    first = load(tmp_path, body)
    calls_after_first = len(FakeClient.calls)
    assert hosts(first) == ['KA1', 'KA2', 'KA3']
    assert os.listdir(str(tmp_path / 'cache'))
    second = load(tmp_path, body)
    assert hosts(second) == ['KA1', 'KA2', 'KA3']
    assert len(FakeClient.calls) == calls_after_first
    assert TOKEN not in ''.join(p.read_text() for p in (tmp_path / 'cache').iterdir())


def test_admin_token_answers_hold_the_idnumber_and_the_companion_is_not_asked(tmp_path):
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\n' % URL)
    assert inv.get_host('KA1').get_vars()['moodle_course_idnumber'] == 'KA-2026-1'
    assert companion_reads() == []


def test_least_privilege_token_gets_idnumbers_from_the_companion_for_selected_courses_only(tmp_path):
    FakeClient.least_privilege = True
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\n' % URL)
    assert hosts(inv) == ['KA1', 'KA2', 'KA3']
    assert inv.get_host('KA3').get_vars()['moodle_course_idnumber'] == 'KA-2025-3'
    assert companion_reads() == [2, 3, 4]    # not the site, MANUAL (no database/cohort) or HIDDEN


def test_least_privilege_token_with_idnumber_pattern(tmp_path):
    FakeClient.least_privilege = True
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\nidnumber_pattern: "^KA-2026-"\nshortname_pattern: "^KA[12]$"\n'
               % URL)
    assert hosts(inv) == ['KA1', 'KA2']
    assert companion_reads() == [2, 3]


def test_idnumbers_read_from_the_companion_are_cached(tmp_path):
    FakeClient.least_privilege = True
    body = ('moodle_url: %s\nmoodle_token: t\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n'
            'cache_connection: %s\ncache_timeout: 600\nidnumber_pattern: "2026"\n') % (URL, tmp_path / 'cache')
    assert hosts(load(tmp_path, body)) == ['KA1', 'KA2']
    calls_after_first = len(FakeClient.calls)
    second = load(tmp_path, body)
    assert hosts(second) == ['KA1', 'KA2']
    assert second.get_host('KA2').get_vars()['moodle_course_idnumber'] == 'KA-2026-2'
    assert len(FakeClient.calls) == calls_after_first


def test_without_the_companion_idnumber_pattern_is_refused_naming_the_reason(tmp_path, monkeypatch):
    FakeClient.least_privilege = True
    monkeypatch.setattr(FakeClient, 'service', FakeClient.service[:3])
    path = tmp_path / 'site.courses.yml'
    path.write_text('plugin: cemu.moodle.courses\nmoodle_url: %s\nmoodle_token: t\nidnumber_pattern: "^KA"\n' % URL)
    inventory = InventoryManager(loader=DataLoader(), sources=[])
    with pytest.raises(AnsibleParserError, match='idnumber_pattern cannot be used: .*moodle/course:update.*'
                                                 'local_keepaccess_get_course_enrolments'):
        inventory_loader.get('cemu.moodle.courses').parse(inventory._inventory, DataLoader(), str(path), cache=False)


def test_without_the_companion_the_idnumber_host_var_is_left_unset(tmp_path, monkeypatch):
    FakeClient.least_privilege = True
    monkeypatch.setattr(FakeClient, 'service', FakeClient.service[:3])
    inv = load(tmp_path, 'moodle_url: %s\nmoodle_token: t\n' % URL)
    assert hosts(inv) == ['KA1', 'KA2', 'KA3']
    assert 'moodle_course_idnumber' not in inv.get_host('KA1').get_vars()
    assert inv.get_host('KA1').get_vars()['moodle_course'] == 2
