# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules ask Moodle: find a course, read its enrolments, write manual ones.

Wraps the web-service functions of the companion plugin ``local_keepaccess``
(see docs/design.md) and ``core_course_get_courses_by_field``. Every write is
checked: each batch must come back with one answer per row, in order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
import uuid

from collections import Counter
from contextlib import contextmanager

from ansible_collections.cemu.moodle.plugins.module_utils.client import (
    SITE_INFO_FUNCTION,
    MoodleError,
    functions_missing_error,
)

COURSE_LOOKUP_FUNCTION = 'core_course_get_courses_by_field'
GET_ENROLMENTS_FUNCTION = 'local_keepaccess_get_course_enrolments'
APPLY_FUNCTION = 'local_keepaccess_apply_manual_enrolments'
REMOVE_FUNCTION = 'local_keepaccess_remove_manual_enrolments'
ENSURE_INSTANCE_FUNCTION = 'local_keepaccess_ensure_manual_instance'
HISTORY_FUNCTION = 'local_keepaccess_get_course_history'
CLAIM_FUNCTION = 'local_keepaccess_claim_course'
RELEASE_FUNCTION = 'local_keepaccess_release_course'
SITE_SETTINGS_FUNCTION = 'local_keepaccess_get_site_settings'
COMPANION_FUNCTIONS = (GET_ENROLMENTS_FUNCTION, APPLY_FUNCTION, REMOVE_FUNCTION, ENSURE_INSTANCE_FUNCTION)
# Functions of local_keepaccess 2026120110 and later: history in Moodle and per-course claims.
HISTORY_FUNCTIONS = (HISTORY_FUNCTION, SITE_SETTINGS_FUNCTION, CLAIM_FUNCTION, RELEASE_FUNCTION)
CLAIM_SECONDS = 600
CLAIM_POLL_SECONDS = 5
REQUIRED_FUNCTIONS = (SITE_INFO_FUNCTION, COURSE_LOOKUP_FUNCTION) + COMPANION_FUNCTIONS
COMPANION_ADVICE = ('install the companion plugin with role cemu.moodle.moodle_companion and add its '
                    'functions to the service')

COURSE_BY_CHOICES = ('auto', 'id', 'shortname', 'idnumber')
APPLY_ROW_KEYS = ('userid', 'status', 'timestart', 'timeend', 'roleids')
REMOVE_ROW_KEYS = ('userid', 'unenrol', 'roleids')
# local_keepaccess 2026120130 and later: a remove row may put back its enrolment's fields (one write per user)
REVERT_PLUGIN_VERSION = 2026120130
REVERT_ROW_KEYS = REMOVE_ROW_KEYS + ('status', 'timestart', 'timeend')
PAGE_REPEATED_KEYS = ('course', 'instances', 'roles', 'timezone', 'pluginversion')
PAGE_LIST_KEYS = ('userenrolments', 'roleassignments')
# Since local_keepaccess 2026120100; an older plugin's answers lack them (then nothing is known about them).
PAGE_OPTIONAL_REPEATED_KEYS = ('assignableroles',)
PAGE_OPTIONAL_LIST_KEYS = ('inheritedroleassignments',)


class KeepAccessApi:
    """The collection's questions to Moodle, on top of a MoodleClient."""

    def __init__(self, client):
        self.client = client

    def site_info(self):
        return self.client.site_info()

    def require_companion(self):
        """Fail with 'functionmissing' unless the service offers everything the collection calls."""
        missing = self.client.missing_functions(REQUIRED_FUNCTIONS)
        if missing:
            advice = COMPANION_ADVICE if set(missing) & set(COMPANION_FUNCTIONS) else None
            raise functions_missing_error(missing, advice)

    def site_settings(self):
        """{pluginversion, timezone, servertime, historyretention} of local_keepaccess_get_site_settings."""
        answer = self._call(SITE_SETTINGS_FUNCTION, {})
        if not isinstance(answer, dict) or 'pluginversion' not in answer or 'timezone' not in answer:
            raise _unexpected_answer(SITE_SETTINGS_FUNCTION, 'no pluginversion/timezone')
        return answer

    # -- courses --

    def find_course(self, value, by='auto'):
        """The one course ``value`` names: {id, shortname, idnumber, fullname}.

        ``by='auto'``: digits are looked up as id, shortname and idnumber, any
        other value as shortname and idnumber; more than one course matching
        is an error ('courseambiguous'), none is 'coursenotfound'.
        """
        text = str(value if value is not None else '').strip()
        fields = course_lookup_fields(text, by)
        matches = []
        for field in fields:
            matches.extend((field, course) for course in self._courses_by(field, text))
        if not matches:
            raise MoodleError("course '%s' not found (looked up by %s)" % (text, ', '.join(fields)),
                              function=COURSE_LOOKUP_FUNCTION, errorcode='coursenotfound')
        distinct = _distinct_courses(matches)
        if len(distinct) > 1:
            raise _ambiguous_course_error(text, by, distinct)
        return course_summary(matches[0][1])

    def read_course_by_id(self, value):
        """(course, merged enrolment answer) of the course whose id ``value`` is: one read instead of a lookup
        and a read; the companion's answer names the course. A course it does not find is 'coursenotfound',
        as find_course() says it."""
        text = str(value if value is not None else '').strip()
        course_lookup_fields(text, 'id')
        try:
            answer = self.read_course_enrolments(int(text))
        except MoodleError as err:
            if err.errorcode != 'coursenotfound':
                raise
            raise MoodleError("course '%s' not found (looked up by id)" % text,
                              function=GET_ENROLMENTS_FUNCTION, errorcode='coursenotfound') from None
        return course_summary(answer['course']), answer

    def _courses_by(self, field, value):
        answer = self._call(COURSE_LOOKUP_FUNCTION,
                            {'field': field, 'value': int(value) if field == 'id' else value})
        courses = answer.get('courses') if isinstance(answer, dict) else None
        if not isinstance(courses, list):
            raise _unexpected_answer(COURSE_LOOKUP_FUNCTION, 'no courses list')
        return courses

    # -- reading --

    def read_course_enrolments(self, courseid, page_users=5000):
        """Every page of local_keepaccess_get_course_enrolments merged into one answer."""
        merged = None
        fromuserid = 0
        while True:
            page = self._call(GET_ENROLMENTS_FUNCTION,
                              {'courseid': courseid, 'fromuserid': fromuserid, 'maxusers': page_users})
            merged = _merge_page(merged, page)
            next_from = int(page.get('nextfromuserid') or 0)
            if not next_from:
                return merged
            if next_from <= fromuserid:
                raise _unexpected_answer(GET_ENROLMENTS_FUNCTION,
                                         'paging did not advance past user id %d' % fromuserid)
            fromuserid = next_from

    def read_course_history(self, courseid, page_records=5000):
        """Every record of local_keepaccess_get_course_history (what earlier writes changed), oldest first."""
        records = []
        fromid = 0
        while True:
            page = self._call(HISTORY_FUNCTION, {'courseid': courseid, 'fromid': fromid, 'maxrecords': page_records})
            if not isinstance(page, dict) or not isinstance(page.get('records'), list):
                raise _unexpected_answer(HISTORY_FUNCTION, 'no records list')
            records.extend(page['records'])
            next_from = int(page.get('nextfromid') or 0)
            if not next_from:
                return records
            if next_from <= fromid:
                raise _unexpected_answer(HISTORY_FUNCTION, 'paging did not advance past record id %d' % fromid)
            fromid = next_from

    # -- claims: one run at a time per course --

    def claim_course(self, courseid, runid, seconds=CLAIM_SECONDS, wait=0, sleep=time.sleep, clock=time.monotonic):
        """Claim the course for ``runid`` (or renew the claim) before reading it to plan writes.

        When another run holds the course, try again every few seconds for up to ``wait``
        seconds, then fail with Moodle's message naming that run ('courseclaimed').
        """
        deadline = clock() + max(0, wait)
        while True:
            try:
                answer = self._call(CLAIM_FUNCTION, {'runid': runid, 'seconds': int(seconds), 'courseid': courseid})
            except MoodleError as err:
                remaining = deadline - clock()
                if err.errorcode != 'courseclaimed' or remaining <= 0:
                    raise _claim_error(err, courseid, wait)
                sleep(min(CLAIM_POLL_SECONDS, remaining))
                continue
            if not isinstance(answer, dict) or 'timeexpires' not in answer:
                raise _unexpected_answer(CLAIM_FUNCTION, 'no timeexpires')
            return answer

    @contextmanager
    def course_claimed(self, courseid, runid, seconds=CLAIM_SECONDS, wait=0):
        """Hold the course for ``runid`` across a read-plan-write; released at the end, also on errors."""
        self.claim_course(courseid, runid, seconds=seconds, wait=wait)
        try:
            yield
        finally:
            self.release_course(courseid, runid)

    def release_course(self, courseid, runid):
        """End the run's claim; True when it held the course."""
        answer = self._call(RELEASE_FUNCTION, {'runid': runid, 'courseid': courseid})
        if not isinstance(answer, dict) or 'released' not in answer:
            raise _unexpected_answer(RELEASE_FUNCTION, 'no released')
        return bool(answer['released'])

    # -- writing --

    def apply_manual(self, courseid, rows, send_welcome=False, run=None):
        """Create/update manual enrolments (+ manual role assignments); one result per row, in order.

        ``run``: {'runid', 'step'}: the write is refused unless the run holds the course's claim, and
        Moodle's history records the change under that run and step.
        """
        rows = [_pick(row, APPLY_ROW_KEYS) for row in rows]
        params = {'sendwelcome': bool(send_welcome)}
        params.update(_run_params(run))
        # courseid (required) goes last: a form cut short by max_input_vars is refused whole
        params['courseid'] = courseid
        return self._write_verified(APPLY_FUNCTION, courseid, rows, params)

    def remove_manual(self, courseid, rows, run=None, put_back=False):
        """Unassign manual roles and/or unenrol from the manual instance; one result per row.

        ``put_back`` (plugin 2026120130 and later): the rows' status/timestart/timeend are written back on
        enrolments they do not remove, in the same write.
        """
        rows = [_pick(row, REVERT_ROW_KEYS if put_back else REMOVE_ROW_KEYS) for row in rows]
        params = _run_params(run)
        params['courseid'] = courseid
        return self._write_verified(REMOVE_FUNCTION, courseid, rows, params)

    def ensure_manual_instance(self, courseid, enable=True):
        """{instanceid, created, enabled} after making sure an enabled manual instance exists."""
        answer = self._call(ENSURE_INSTANCE_FUNCTION, {'courseid': courseid, 'enable': bool(enable)})
        if not isinstance(answer, dict) or 'instanceid' not in answer:
            raise _unexpected_answer(ENSURE_INSTANCE_FUNCTION, 'no instanceid')
        return answer

    def _write_verified(self, function, courseid, rows, params):
        if not rows:
            return []
        batches = self._batched(function, rows, params,
                                check=lambda batch, result: verify_batch(function, courseid, batch, result))
        return [item for batch_result in batches for item in batch_result]

    def _batched(self, function, rows, params, check):
        try:
            return self.client.call_batched(function, 'enrolments', rows, params, idempotent=True, check=check)
        except MoodleError as err:
            self._raise_if_functions_missing(err)
            raise

    def _call(self, function, params):
        try:
            return self.client.call(function, params, idempotent=True)
        except MoodleError as err:
            self._raise_if_functions_missing(err)
            raise

    def _raise_if_functions_missing(self, err):
        """On an access exception, list everything the service lacks (when site info tells)."""
        if err.errorcode != 'accessexception':
            return
        try:
            self.require_companion()
        except MoodleError as missing:
            if missing.errorcode == 'functionmissing':
                raise missing from None


def course_lookup_fields(value, by):
    """Which fields of core_course_get_courses_by_field to try for ``value``."""
    if by not in COURSE_BY_CHOICES:
        raise ValueError('course_by must be one of %s, not %r' % (', '.join(COURSE_BY_CHOICES), by))
    if not value:
        raise MoodleError('course is empty; give a course id, shortname or idnumber',
                          errorcode='coursenotfound')
    is_id = re.match(r'^\d+$', value) is not None
    if by == 'id' and not is_id:
        raise MoodleError("course '%s' is not a course id (course_by: id wants digits)" % value,
                          errorcode='coursenotfound')
    if by != 'auto':
        return (by,)
    return ('id', 'shortname', 'idnumber') if is_id else ('shortname', 'idnumber')


def course_summary(course):
    """The course fields the collection keeps and returns."""
    return {
        'id': int(course['id']),
        'shortname': course.get('shortname', ''),
        'idnumber': course.get('idnumber', ''),
        'fullname': course.get('fullname', ''),
    }


def _distinct_courses(matches):
    found = {}
    for field, course in matches:
        found.setdefault(int(course['id']), (field, course))
    return list(found.values())


def _ambiguous_course_error(value, by, distinct):
    if by == 'auto':
        listed = ', '.join("id %s ('%s', by %s)" % (course['id'], course.get('shortname', ''), field)
                           for field, course in distinct)
        message = ("course '%s' is ambiguous: it matches %d courses: %s; set course_by to id, "
                   'shortname or idnumber' % (value, len(distinct), listed))
    else:
        ids = ', '.join(str(course['id']) for _field, course in distinct)
        message = ("course '%s' (looked up by %s) matches several courses: ids %s; use course_by: id "
                   'with one of them' % (value, by, ids))
    return MoodleError(message, function=COURSE_LOOKUP_FUNCTION, errorcode='courseambiguous')


def _merge_page(merged, page):
    if not isinstance(page, dict) or any(not isinstance(page.get(key), list) for key in PAGE_LIST_KEYS):
        raise _unexpected_answer(GET_ENROLMENTS_FUNCTION, 'no userenrolments/roleassignments lists')
    if merged is None:
        merged = dict((key, page.get(key)) for key in PAGE_REPEATED_KEYS)
        merged.update((key, page[key]) for key in PAGE_OPTIONAL_REPEATED_KEYS if key in page)
        merged.update((key, []) for key in PAGE_LIST_KEYS)
        merged.update((key, []) for key in PAGE_OPTIONAL_LIST_KEYS if isinstance(page.get(key), list))
        merged['nextfromuserid'] = 0
    for key in PAGE_LIST_KEYS + PAGE_OPTIONAL_LIST_KEYS:
        if key in merged:
            merged[key].extend(page.get(key) or [])
    return merged


def verify_batch(function, courseid, batch, result):
    """Raise 'incompletebatch' unless ``result`` answers every row of ``batch``, in order."""
    sent = [int(row['userid']) for row in batch]
    answered = _answered_userids(result)
    if answered == sent:
        return
    lost = _count_missing(sent, answered or [])
    if not lost:
        raise _unexpected_answer(function, 'rows answered in another order than sent')
    raise MoodleError(
        'Moodle answered %d of the %d rows sent for course id %s: %d rows were lost, most likely cut off '
        "by the server's PHP max_input_vars. Rows that came back were applied, the others were not. "
        "Lower batch_size, or set max_input_vars to the server's value, and run again (it is safe to "
        're-run).' % (len(answered or []), len(sent), courseid, lost),
        function=function, errorcode='incompletebatch')


def _answered_userids(result):
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        return None
    try:
        return [int(item.get('userid')) for item in result]
    except (TypeError, ValueError):
        return None


def _count_missing(sent, answered):
    """How many sent user ids have no answer (duplicates counted)."""
    return sum((Counter(sent) - Counter(answered)).values())


def new_run_id(now=None):
    """A run id for the history and course claims: UTC time and a random part, [A-Za-z0-9_-], 30 characters."""
    stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(time.time() if now is None else now))
    return 'ka-%s-%s' % (stamp, uuid.uuid4().hex[:10])


def _run_params(run):
    """runid and step of a write, when it names a run."""
    if not run:
        return {}
    return {'runid': run['runid'], 'step': run.get('step', '')}


def _claim_error(err, courseid, wait):
    """A refused claim, saying how long the run waited."""
    if err.errorcode != 'courseclaimed':
        return err
    waited = ' (waited %d s; raise the wait to queue behind it)' % wait if wait else ''
    return MoodleError('%s%s' % (err.message, waited), function=CLAIM_FUNCTION, errorcode='courseclaimed',
                       exception=err.exception, debuginfo=err.debuginfo)


def _pick(row, keys):
    return dict((key, row[key]) for key in keys if row.get(key) is not None)


def _unexpected_answer(function, what):
    return MoodleError('unexpected answer from %s (%s); check that the companion plugin version matches '
                       'the collection' % (function, what), function=function, errorcode='invalidresponse')
