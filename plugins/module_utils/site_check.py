# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check a run makes once per Moodle site before it touches any course.

The token works, the companion plugin local_keepaccess is installed in a version
this collection works with, the token's service holds every function the
collection calls, the site's time zone, and the end date parses and is not past
on the site's clock. Every problem found goes into ONE message for the site.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.cemu.moodle.plugins.module_utils.client import SERVICE_FUNCTIONS_PLACE, MoodleError
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import (
    COMPANION_ADVICE,
    HISTORY_FUNCTIONS,
    REQUIRED_FUNCTIONS,
    SITE_SETTINGS_FUNCTION,
    new_run_id,
)
from ansible_collections.cemu.moodle.plugins.module_utils.plan import (
    PlanError,
    format_time,
    parse_end,
    resolve_timezone,
)

# local_keepaccess 2026120110: history in Moodle, course claims, site settings.
MIN_PLUGIN_VERSION = 2026120110
CHECKED_FUNCTIONS = REQUIRED_FUNCTIONS + HISTORY_FUNCTIONS
COMPANION_PREFIX = 'local_keepaccess_'
COURSE_END = 'course_end'


class SiteCheckError(MoodleError):
    """A site that failed its check: ``problems`` lists each thing to fix."""

    def __init__(self, site, problems):
        numbered = ['%d) %s' % (number, problem) for number, problem in enumerate(problems, 1)] \
            if len(problems) > 1 else list(problems)
        message = 'Moodle site %s failed its check, so none of its courses was touched: %s' % (
            site, ' '.join(numbered))
        super(SiteCheckError, self).__init__(message, errorcode='sitecheckfailed')
        self.problems = list(problems)

    def describe(self):
        return self.message


def check_site(api, site, end=None, end_fallback=None, timezone=None, allow_past=False):
    """Facts of a site that passes; SiteCheckError naming every problem of one that does not.

    ``end`` is the end date the run will set (None: not checked here); ``course_end`` means each
    course's end date, which is checked per course, and then ``end_fallback`` is checked here.
    """
    try:
        info = api.site_info()
    except SiteCheckError:
        raise
    except MoodleError as err:      # a wrong token or URL: nothing else can be asked
        raise SiteCheckError(site, [err.describe()])
    offered = dict((item.get('name'), item.get('version')) for item in info.get('functions') or [])
    problems = []
    missing = [name for name in CHECKED_FUNCTIONS if name not in offered]
    companion = _companion_problem(offered, missing)
    if companion:
        problems.append(companion)
    elif missing:
        problems.append(_missing_problem(missing))
    settings = api.site_settings() if SITE_SETTINGS_FUNCTION in offered else {}
    zone_name = timezone or settings.get('timezone')
    facts = {'site': site, 'release': info.get('release'), 'version': info.get('version'),
             'sitename': info.get('sitename'), 'plugin_version': settings.get('pluginversion'),
             'timezone': zone_name, 'servertime': settings.get('servertime'),
             'history_retention': settings.get('historyretention'), 'end': None, 'end_iso': None,
             'run_id': new_run_id()}
    if settings.get('pluginversion') is not None and int(settings['pluginversion']) < MIN_PLUGIN_VERSION:
        problems.append(_old_plugin_problem(settings['pluginversion']))
    problems.extend(_end_problems(facts, end, end_fallback, zone_name, allow_past))
    if problems:
        raise SiteCheckError(site, problems)
    return facts


def _companion_problem(offered, missing):
    """The companion plugin absent from the service, or installed in too old a version."""
    if not any(name.startswith(COMPANION_PREFIX) for name in offered):
        return ('the companion plugin local_keepaccess is not installed, or none of its functions is in the '
                "token's service: %s." % COMPANION_ADVICE)
    versions = sorted(set(int(version) for name, version in offered.items()
                          if name.startswith(COMPANION_PREFIX) and str(version or '').isdigit()))
    if versions and versions[-1] < MIN_PLUGIN_VERSION and any(name.startswith(COMPANION_PREFIX) for name in missing):
        return _old_plugin_problem(versions[-1])
    return None


def _old_plugin_problem(version):
    return ('local_keepaccess %s is installed; this collection needs version %d or later (history in Moodle, '
            'course claims): upgrade it with role cemu.moodle.moodle_companion.' % (version, MIN_PLUGIN_VERSION))


def _missing_problem(missing):
    return ("the token's web service lacks %s: %s. Add %s to the service (%s)." % (
        'this function' if len(missing) == 1 else 'these functions', ', '.join(missing),
        'it' if len(missing) == 1 else 'them', SERVICE_FUNCTIONS_PLACE))


def _end_problems(facts, end, end_fallback, zone_name, allow_past):
    """Problems of the end date (and the fallback of course_end); fills facts['end'/'end_iso']."""
    if end is None or zone_name is None:
        return []
    try:
        zone = resolve_timezone(zone_name)
    except PlanError as err:
        return [str(err)]
    if str(end).strip() == COURSE_END:
        facts['end'] = COURSE_END
        if end_fallback is None:
            return []
        return _date_problems(facts, end_fallback, zone, allow_past, 'end_fallback')
    return _date_problems(facts, end, zone, allow_past, 'end')


def _date_problems(facts, value, zone, allow_past, option):
    try:
        unix = parse_end(value, zone)
    except PlanError as err:
        return [str(err).replace('end:', '%s:' % option, 1)]
    facts['end'], facts['end_iso'] = unix, format_time(unix, zone)
    now = facts.get('servertime') or int(time.time())     # the controller's clock for an older plugin
    if unix <= int(now) and not allow_past:
        return ["%s '%s' (%s) is already past on the site's clock (%s): students would lose access at once. "
                'Set a later date, or allow_past if that is what you want.' % (
                    option, value, facts['end_iso'], format_time(int(now), zone))]
    return []
