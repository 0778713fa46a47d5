# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keep_access_sites: the sites of a play's courses, each once, for the check made before any course is touched."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


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


class FilterModule(object):
    """keep_access site filters."""

    def filters(self):
        return {'keep_access_sites': keep_access_sites, 'keep_access_site_failure': keep_access_site_failure}
