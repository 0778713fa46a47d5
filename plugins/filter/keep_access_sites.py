# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site check made once per site before any course is touched, and the courses it stops.

keep_access_sites: the sites of a play's courses, each once. keep_access_site_failure: a course's site's
failed check. keep_access_course_stop / keep_access_course_stops: why a course must stop before its first
write (its site failed its check, or it has no usable end date), for one course or a play's courses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.cemu.moodle.plugins.filter.keep_access_course_end import keep_access_course_end_problem
from ansible_collections.cemu.moodle.plugins.filter.keep_access_report import keep_access_course_result

# the role's task that stops a course (role keep_access, tasks/main.yml): the failed step of a stopped course
STOP_STEP = 'Stop the course before any write when its site or its end date is not usable'
END_NOT_SET = ('keep_access_end is not set: set the end date of the manual enrolments '
               '(e.g. -e keep_access_end=2027-03-31)')
NOT_TOUCHED = '; course not touched'


def site_key(site, end):
    """What makes two courses share one site check: the site and the end date they will get."""
    return '%s|%s' % (site or '', '' if end is None else end)


def keep_access_sites(hosts_vars, default_site=None):
    """[{site, end, host, key}] for each distinct (site, end date) of the hosts, in play order.

    ``host`` is the first course host of that site: the check reads its connection variables
    (never listed here, so the token does not appear in loop items).
    """
    if not isinstance(hosts_vars, (list, tuple)):
        raise AnsibleFilterError('keep_access_sites expects a list of host variables, got %s'
                                 % type(hosts_vars).__name__)
    sites = []
    seen = set()
    for host_vars in hosts_vars:
        site = host_vars['moodle_url'] if 'moodle_url' in host_vars else default_site
        end = str(host_vars['keep_access_end']) if 'keep_access_end' in host_vars else None
        key = site_key(site, end)
        if key not in seen:
            seen.add(key)
            sites.append({'site': site or '', 'end': end, 'host': host_vars['inventory_hostname'], 'key': key})
    return sites


def keep_access_site_failure(check_results, site, end):
    """The message of the failed check of this course's site, or '' when it passed (or was not checked)."""
    key = site_key(site, None if end is None else str(end))
    for result in check_results or ():
        if isinstance(result, dict) and (result.get('item') or {}).get('key') == key and result.get('failed'):
            return str(result.get('msg') or 'the site check failed')
    return ''


def keep_access_course_stop(check_results, site, end=None, state='present', course_enddate=None, fallback=None,
                            min_days=0):
    """Why the course must stop before any write, or '' when it may go on.

    Its site failed its check (``check_results``: the registered site-check loop), or, when it is to keep
    access (``state`` present), its end date ``end`` (keep_access_end; None: not set) is not usable.
    """
    if keep_access_site_failure(check_results, site, end):
        return '%s failed its check (message above)%s' % (site or 'the site', NOT_TOUCHED)
    if state == 'absent':
        return ''
    if end is None:
        return END_NOT_SET + NOT_TOUCHED
    problem = keep_access_course_end_problem(end, course_enddate, fallback, min_days or 0)
    return problem + NOT_TOUCHED if problem else ''


def keep_access_course_stops(hosts_vars, check_results, default_site=None, state='present', min_days=0,
                             check_mode=False):
    """[{host, message, record}] of the courses that must stop before any write, in play order.

    ``hosts_vars``: each course's host variables; a course's own moodle_url, keep_access_state and
    keep_access_end_min_days win over ``default_site``, ``state`` and ``min_days`` (the role's defaults).
    ``record`` is the course's line of the run report (status failed, the message).
    """
    if not isinstance(hosts_vars, (list, tuple)):
        raise AnsibleFilterError('keep_access_course_stops expects a list of host variables, got %s'
                                 % type(hosts_vars).__name__)
    stops = []
    for host_vars in hosts_vars:
        def value(name, default=None):
            return host_vars[name] if name in host_vars else default
        site = value('moodle_url', default_site)
        message = keep_access_course_stop(check_results, site, value('keep_access_end'),
                                          value('keep_access_state', state), value('moodle_course_enddate'),
                                          value('keep_access_end_fallback'), value('keep_access_end_min_days', min_days))
        if message:
            host = host_vars['inventory_hostname']
            record = keep_access_course_result(None, course=host, site=site, failure={'msg': message},
                                               failed_step=STOP_STEP, check_mode=check_mode)
            stops.append({'host': host, 'message': message, 'record': record})
    return stops


class FilterModule(object):
    """keep_access site filters."""

    def filters(self):
        return {'keep_access_sites': keep_access_sites, 'keep_access_site_failure': keep_access_site_failure,
                'keep_access_course_stop': keep_access_course_stop,
                'keep_access_course_stops': keep_access_course_stops}
