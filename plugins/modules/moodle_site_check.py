#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: moodle_site_check
short_description: Check a Moodle site once before any of its courses is touched
version_added: 0.2.0
description:
  - Checks, with read-only calls, what every course of a run needs from the site, and fails with one
    message for the site that lists every problem found.
  - The token works; the companion plugin C(local_keepaccess) is installed in a version this collection
    works with; the token's service holds every function the collection calls; the site's time zone;
    and, when O(end) is given, that the end date parses and is not already past on the site's clock.
  - Run it once per site before the course tasks; role C(cemu.moodle.keep_access) does.
  - Never changes anything; the same in check mode.
author:
  - cemu.moodle contributors (@cemu-moodle)
extends_documentation_fragment:
  - cemu.moodle.connection
options:
  end:
    description:
      - The end date the run will set, as M(cemu.moodle.moodle_set_enrol_end) reads it.
      - V(course_end) means each course's own end date, checked per course; O(end_fallback) is then checked here.
      - Not checked when not given.
    type: raw
  end_fallback:
    description:
      - The date used for courses without an end date when O(end=course_end).
    type: raw
  timezone:
    description:
      - IANA time zone a date in O(end) is read in. Default the site's time zone.
    type: str
  allow_past:
    description:
      - Accept an end that is already past.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Check the site before the courses
  cemu.moodle.moodle_site_check:
    moodle_url: https://moodle.example.edu
    moodle_token: "{{ vault_moodle_token }}"
    end: "2027-06-30"
  run_once: true
'''

RETURN = r'''
site:
  description: The site checked (O(moodle_url)).
  returned: success
  type: str
  sample: https://moodle.example.edu
release:
  description: Moodle's release.
  returned: success
  type: str
  sample: 4.5 (Build 20241007)
plugin_version:
  description: The installed version of C(local_keepaccess).
  returned: success
  type: int
  sample: 2026120110
timezone:
  description: The time zone dates are read in (O(timezone), else the site's).
  returned: success
  type: str
  sample: Europe/London
servertime:
  description: The site's clock when checked (Unix time).
  returned: success
  type: int
history_retention:
  description: Seconds the site keeps the history of earlier runs (0 = for ever).
  returned: success
  type: int
end:
  description: The end date as a Unix time, V(course_end), or null when O(end) was not given.
  returned: success
  type: raw
  sample: 1814396399
end_iso:
  description: The end date in ISO 8601 in the time zone used.
  returned: success
  type: str
  sample: "2027-06-30T23:59:59+01:00"
run_id:
  description: A new run id (UTC time and a random part) for the course tasks of this run to name in Moodle's history.
  returned: success
  type: str
  sample: ka-20261201T153800Z-3f9a1c04d2
problems:
  description: What to fix, one item per problem (the message lists them too).
  returned: failure
  type: list
  elements: str
'''

from ansible_collections.cemu.moodle.plugins.module_utils.module_base import MoodleModule
from ansible_collections.cemu.moodle.plugins.module_utils.site_check import SiteCheckError, check_site


WITH_COURSE = False      # a site, not a course: no course options


def argument_spec():
    return dict(
        end=dict(type='raw'),
        end_fallback=dict(type='raw'),
        timezone=dict(type='str'),
        allow_past=dict(type='bool', default=False),
    )


def main():
    run(MoodleModule(argument_spec(), with_course=WITH_COURSE))


def run(moodle):
    """The check on ``moodle`` (a MoodleModule built from argument_spec()); the action plugin of the same
    name calls it in the controller's worker process."""
    params = moodle.params
    try:
        facts = check_site(moodle.api, params['moodle_url'], end=params['end'], end_fallback=params['end_fallback'],
                           timezone=params['timezone'], allow_past=params['allow_past'])
    except SiteCheckError as err:
        moodle.fail_json(msg=err.message, problems=err.problems, errorcode=err.errorcode)
    moodle.exit(False, **facts)


if __name__ == '__main__':
    main()
