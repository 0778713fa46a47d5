# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: courses
short_description: Moodle courses as inventory hosts, one host per course
description:
  - Reads the courses of a Moodle site through its web services and adds one inventory host per course, named by
    the course shortname, to a group named after the site.
  - Selects courses by category (with or without subcategories), shortname or idnumber pattern, visibility, and
    the enabled enrolment methods they have (by default only courses with an enabled external database or cohort
    sync instance, the courses the role C(cemu.moodle.keep_access) is for).
  - Host variables are C(moodle_course) (the course id), C(moodle_course_shortname), C(moodle_course_idnumber),
    C(moodle_course_fullname), C(moodle_course_category) (category id), C(moodle_course_category_name),
    C(moodle_course_visible), C(moodle_course_methods) (enabled enrolment methods) and C(moodle_url).
  - C(moodle_course_enddate) is the course end date in the course settings (Unix time, 0 = none); the role's
    C(keep_access_end=course_end) uses it.
  - Every course host is also in the group C(moodle_courses), whatever its site; the playbook of role
    C(cemu.moodle.keep_access) targets that group.
  - The token is not copied into host variables. Give it to the playbook as a variable C(moodle_token) of the site
    group, kept in Ansible Vault (C(group_vars/<site group>/vault.yml)), or in the environment as E(MOODLE_TOKEN).
  - Several sites in one inventory work with one YAML file per site in an inventory directory, each with its own
    O(site_group) (and O(host_prefix) when two sites share course shortnames).
  - The configuration file name must end with C(courses.yml) or C(courses.yaml), e.g. C(site1.courses.yml).
  - The token's web service needs C(core_webservice_get_site_info), C(core_course_get_courses_by_field) and, with
    O(categories) and O(include_subcategories), C(core_course_get_categories).
  - Moodle leaves the idnumber out of course answers when the token's user lacks C(moodle/course:update), as for the
    least-privilege user of the companion plugin C(local_keepaccess). The plugin then reads the idnumber of each
    course that passes the other filters from the companion's C(local_keepaccess_get_course_enrolments) (one call
    per course, one user per answer; cached with the inventory cache). Without that function in the service,
    O(idnumber_pattern) is an error and C(moodle_course_idnumber) is not set (with a warning).
author:
  - cemu.moodle contributors (@cemu-moodle)
requirements:
  - requests
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    type: str
    required: true
    choices: [cemu.moodle.courses]
  moodle_url:
    description: The Moodle site root, e.g. V(https://moodle.example.edu).
    type: str
    required: true
    env:
      - name: MOODLE_URL
  moodle_token:
    description:
      - Web-service token. Keep it out of the file (use the environment) or encrypt it with Ansible Vault.
    type: str
    required: true
    env:
      - name: MOODLE_TOKEN
  validate_certs:
    description: Check the site's TLS certificate.
    type: bool
    default: true
    env:
      - name: MOODLE_VALIDATE_CERTS
  ca_path:
    description: CA bundle to check the site's certificate with.
    type: path
    env:
      - name: MOODLE_CA_PATH
  timeout:
    description: Seconds per HTTP request.
    type: int
    default: 60
  categories:
    description:
      - Ids of the course categories whose courses to list. Empty for every course of the site.
    type: list
    elements: int
    default: []
  include_subcategories:
    description: With O(categories), also list the courses of every category below them.
    type: bool
    default: true
  shortname_pattern:
    description: Only courses whose shortname matches this regular expression (Python C(re.search)).
    type: str
  idnumber_pattern:
    description: Only courses whose idnumber matches this regular expression (Python C(re.search)).
    type: str
  include_hidden:
    description: Also list courses hidden from students.
    type: bool
    default: false
  methods:
    description:
      - Only courses with at least one B(enabled) enrolment instance of one of these methods (Moodle's
        C(enrollmentmethods) of the course). An empty list keeps every course.
    type: list
    elements: str
    default: [database, cohort]
  site_group:
    description:
      - Group the courses of this site are put in, the place for the site's group variables (C(moodle_token),
        C(keep_access_end) ...).
      - Default from the URL's host, port and path, e.g. V(moodle_example_edu) for V(https://moodle.example.edu).
    type: str
  host_prefix:
    description:
      - Text put before each shortname to name the host, for inventories of several sites whose course shortnames
        overlap.
    type: str
    default: ''
'''

EXAMPLES = r'''
# courses.yml: courses with enabled database or cohort enrolments in categories 3 and 7 (and below)
plugin: cemu.moodle.courses
moodle_url: https://moodle.example.edu
# moodle_token: from the environment variable MOODLE_TOKEN
categories: [3, 7]
idnumber_pattern: '^2026-'
site_group: moodle_main
keyed_groups:
  - key: moodle_course_category | string
    prefix: category
groups:
  cohort_courses: "'cohort' in moodle_course_methods"
compose:
  keep_access_end: "'2027-03-31' if moodle_course_shortname.startswith('MED') else '2026-12-31'"

# An inventory directory with two sites: inventory/main.courses.yml, inventory/medicine.courses.yml
# (each with its moodle_url, site_group and host_prefix) and inventory/group_vars/<site group>/vault.yml
# holding that site's moodle_token.
'''

import re

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

try:
    from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient, MoodleError
    from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import GET_ENROLMENTS_FUNCTION
    HAS_CLIENT = True
    CLIENT_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - only without requests
    HAS_CLIENT = False
    CLIENT_IMPORT_ERROR = import_error

COURSE_FIELDS = ('id', 'shortname', 'idnumber', 'fullname', 'categoryid', 'categoryname', 'visible',
                 'enrollmentmethods', 'format', 'enddate')
ALL_COURSES_GROUP = 'moodle_courses'
CONFIG_SUFFIXES = ('courses.yml', 'courses.yaml')
# What starts a Jinja2 expression, statement or comment: a host name holding one is templated by ansible-core < 2.19.
TEMPLATE_MARKERS = ('{{', '{%', '{#')


def site_group_name(url):
    """Default group name of a site: host[_port][_path], lowercased, other characters as '_'."""
    match = re.match(r'^[a-z]+://([^/?#]+)([^?#]*)', url.strip().lower())
    if not match:
        raise AnsibleParserError('moodle_url %r must start with http:// or https://' % url)
    name = match.group(1) + match.group(2).rstrip('/')
    name = re.sub(r'[^a-z0-9]+', '_', name).strip('_')
    return name if re.match(r'^[a-z_]', name) else 'site_' + name


def compile_pattern(option, pattern):
    """re.compile ``pattern``, or None; an invalid one is an error naming the option."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as err:
        raise AnsibleParserError('%s %r is not a valid regular expression: %s' % (option, pattern, err))


def course_record(course):
    """The fields of a course answer the plugin uses (and caches); idnumber None when Moodle left it out."""
    record = dict((field, course.get(field)) for field in COURSE_FIELDS)
    record['enrollmentmethods'] = list(record['enrollmentmethods'] or [])
    if 'idnumber' in course:
        record['idnumber'] = record['idnumber'] or ''
    return record


def select_courses(courses, methods=(), shortname_pattern=None, include_hidden=False, site_id=1):
    """The courses that pass every filter but the idnumber's, by id; ``shortname_pattern`` is compiled."""
    wanted = set(methods or ())
    selected = []
    for course in sorted(courses, key=lambda c: c['id']):
        if course['id'] == site_id or course.get('format') == 'site':
            continue
        if not include_hidden and not course.get('visible', 1):
            continue
        if wanted and not wanted.intersection(course['enrollmentmethods']):
            continue
        if shortname_pattern and not shortname_pattern.search(course['shortname'] or ''):
            continue
        selected.append(course)
    return selected


def matching_idnumber(courses, idnumber_pattern):
    """The courses whose idnumber matches the compiled pattern (all without a pattern; unknown never matches)."""
    if not idnumber_pattern:
        return courses
    return [course for course in courses if idnumber_pattern.search(course['idnumber'] or '')]


def course_hostvars(course, url):
    """Host variables of one course (never the token); no moodle_course_idnumber when it is unknown.

    Every value is marked unsafe: course text is typed by teachers and must never be templated (ansible-core
    before 2.19 templates plain strings of inventory variables; 2.19+ only trusted ones, and wrap_var is then a
    no-op).
    """
    hostvars = {
        'moodle_course': course['id'],
        'moodle_course_shortname': course['shortname'],
        'moodle_course_idnumber': course['idnumber'],
        'moodle_course_fullname': course['fullname'],
        'moodle_course_category': course['categoryid'],
        'moodle_course_category_name': course['categoryname'],
        'moodle_course_visible': bool(course.get('visible', 1)),
        'moodle_course_methods': sorted(set(course['enrollmentmethods'])),
        'moodle_course_enddate': int(course.get('enddate') or 0),
        'moodle_url': url,
    }
    if course['idnumber'] is None:
        del hostvars['moodle_course_idnumber']
    return dict((name, wrap_var(value)) for name, value in hostvars.items())


def looks_like_template(text):
    """Whether Jinja2 would see an expression, statement or comment in the text."""
    return any(marker in (text or '') for marker in TEMPLATE_MARKERS)


def host_name(course, prefix=''):
    """The course's host name: prefix + shortname, or prefix + course_<id> when the shortname is empty or looks
    like a template (ansible-core before 2.19 templates inventory_hostname, and a host name cannot be marked
    unsafe without breaking ansible-inventory --list)."""
    shortname = course['shortname'] or ''
    if not shortname or looks_like_template(shortname):
        return '%scourse_%d' % (prefix, course['id'])
    return prefix + shortname


def without_idnumber(courses):
    """The courses whose idnumber Moodle left out (the token's user lacks moodle/course:update)."""
    return [course for course in courses if course['idnumber'] is None]


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """One host per Moodle course."""

    NAME = 'cemu.moodle.courses'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(CONFIG_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_CLIENT:
            raise AnsibleParserError('cemu.moodle.courses needs the Python library requests: %s'
                                     % to_native(CLIENT_IMPORT_ERROR))
        url = self.get_option('moodle_url')
        self._moodle = None
        site = self._site(path, cache)
        courses = select_courses(
            site['courses'], methods=self.get_option('methods'),
            shortname_pattern=compile_pattern('shortname_pattern', self.get_option('shortname_pattern')),
            include_hidden=self.get_option('include_hidden'), site_id=site['siteid'])
        if self._fill_idnumbers(without_idnumber(courses)):
            self._save_to_cache(path, site)
        courses = matching_idnumber(courses, compile_pattern('idnumber_pattern', self.get_option('idnumber_pattern')))
        group = self.inventory.add_group(self.get_option('site_group') or site_group_name(url))
        for course in courses:
            self._add_course(group, course, url)

    # -- reading the site (or the cache) --

    def _site(self, path, cache):
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        if use_cache:
            try:
                return self._cache[cache_key]
            except KeyError:
                update_cache = True
        site = self._read_site()
        if update_cache:
            self._cache[cache_key] = site
        return site

    def _save_to_cache(self, path, site):
        if self.get_option('cache'):
            self._cache[self.get_cache_key(path)] = site

    def _client(self):
        if self._moodle is None:
            self._moodle = MoodleClient(self.get_option('moodle_url'), self.get_option('moodle_token'),
                                        validate_certs=self.get_option('validate_certs'),
                                        ca_path=self.get_option('ca_path'), timeout=self.get_option('timeout'))
        return self._moodle

    def _read_site(self):
        client = self._client()
        try:
            siteid = client.site_info().get('siteid') or 1
            courses = [course_record(c) for c in self._fetch_courses(client)]
        except MoodleError as err:
            raise AnsibleParserError('cemu.moodle.courses: cannot read the courses of %s: %s'
                                     % (client.url, err.describe()))
        return {'siteid': siteid, 'courses': courses}

    def _fetch_courses(self, client):
        categories = self.get_option('categories')
        if not categories:
            return self._courses_by_field(client)
        courses = {}
        for category in self._category_ids(client, categories):
            for course in self._courses_by_field(client, 'category', category):
                courses[course['id']] = course
        return list(courses.values())

    def _category_ids(self, client, categories):
        if not self.get_option('include_subcategories'):
            return sorted(set(categories))
        ids = set()
        for category in categories:
            found = client.call('core_course_get_categories',
                                {'criteria': [{'key': 'id', 'value': category}], 'addsubcategories': 1},
                                idempotent=True) or []
            if not found:
                raise AnsibleParserError('cemu.moodle.courses: category %s not found on %s (or not visible to '
                                         "the token's user)" % (category, client.url))
            ids.update(c['id'] for c in found)
        return sorted(ids)

    def _fill_idnumbers(self, courses):
        """Read the idnumbers Moodle left out from the companion plugin; True when any was filled."""
        if not courses:
            return False
        client = self._client()
        try:
            if client.missing_functions([GET_ENROLMENTS_FUNCTION]):
                self._idnumbers_unavailable(client)
                return False
            for course in courses:
                answer = client.call(GET_ENROLMENTS_FUNCTION, {'courseid': course['id'], 'maxusers': 1},
                                     idempotent=True) or {}
                course['idnumber'] = (answer.get('course') or {}).get('idnumber') or ''
        except MoodleError as err:
            raise AnsibleParserError('cemu.moodle.courses: cannot read the course idnumbers of %s: %s'
                                     % (client.url, err.describe()))
        return True

    def _idnumbers_unavailable(self, client):
        why = ("%s leaves out course idnumbers (the token's user lacks moodle/course:update) and the token's "
               'service has no %s (companion plugin local_keepaccess) to read them' % (client.url, GET_ENROLMENTS_FUNCTION))
        if self.get_option('idnumber_pattern'):
            raise AnsibleParserError('cemu.moodle.courses: idnumber_pattern cannot be used: %s' % why)
        Display().warning('cemu.moodle.courses: moodle_course_idnumber is not set: %s' % why)

    @staticmethod
    def _courses_by_field(client, field=None, value=None):
        params = {'field': field, 'value': value} if field else {}
        answer = client.call('core_course_get_courses_by_field', params, idempotent=True) or {}
        return answer.get('courses') or []

    # -- building the inventory --

    def _add_course(self, group, course, url):
        host = host_name(course, self.get_option('host_prefix'))
        if looks_like_template(course['shortname']):
            Display().warning('cemu.moodle.courses: course %d of %s is the host %s: its shortname looks like a '
                              'Jinja2 template' % (course['id'], url, host))
        self._refuse_clash(host, url, course['id'])
        self.inventory.add_host(host, group=group)
        self.inventory.add_host(host, group=self.inventory.add_group(ALL_COURSES_GROUP))
        hostvars = course_hostvars(course, url)
        for name, value in hostvars.items():
            self.inventory.set_variable(host, name, value)
        strict = self.get_option('strict')
        self._set_composite_vars(self.get_option('compose'), hostvars, host, strict=strict)
        self._add_host_to_composed_groups(self.get_option('groups'), hostvars, host, strict=strict)
        self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, host, strict=strict)

    def _refuse_clash(self, host, url, courseid):
        existing = self.inventory.get_host(host)
        if existing is None:
            return
        other = existing.get_vars().get('moodle_url')
        if other and other != url:
            raise AnsibleParserError(
                "cemu.moodle.courses: host '%s' is a course of %s and of %s; set host_prefix in one of the "
                'two inventory files so that their course hosts get different names' % (host, other, url))
        other_course = existing.get_vars().get('moodle_course')
        if other_course is not None and other_course != courseid:
            raise AnsibleParserError("cemu.moodle.courses: host '%s' would be courses %s and %s of %s; rename one of "
                                     'them in Moodle' % (host, other_course, courseid, url))
