# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the keep_access run report.

``keep_access_course_result`` turns what the three modules returned for one
course (or the failure that stopped it) into one flat record;
``keep_access_host_result`` does it from a course host's variables (what the
role registered, or the failure it recorded), so that the role needs no task
per course to record a success; ``keep_access_report`` turns the records of every course into the run report:
a summary (written as JSON), CSV text and the lines of a readable table.
The shape of both lives here and nowhere else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
import os
from collections import Counter
from datetime import datetime, timezone

from ansible.errors import AnsibleFilterError

from ansible_collections.cemu.moodle.plugins.filter.keep_access_course_end import keep_access_course_end

REPORT_FORMAT = 'cemu.moodle.keep_access_report'
REPORT_FORMAT_VERSION = 1

CSV_COLUMNS = (
    'site', 'course', 'course_id', 'status', 'converted', 'created', 'updated',
    'unchanged', 'end_dates_set', 'end', 'end_reason', 'skipped', 'skipped_reasons',
    'backup_file', 'failed_step', 'message', 'missing_methods',
    'state', 'removed', 'reverted', 'roles_unassigned', 'left_alone', 'left_alone_fields',
)

# a run of more courses prints only those that need a look (failed, users skipped); the files hold every one
TABLE_ROWS = 20

NOT_RUN_MESSAGE = 'stopped before keep_access could run for this course (see its error in the play output)'

TABLE_COLUMNS = (
    ('course', 'course'),
    ('status', 'status'),
    ('converted', 'converted'),
    ('end_dates_set', 'end dates set'),
    ('skipped', 'skipped'),
    ('backup', 'backup file'),
)

# the table of an undo (keep_access_state=absent)
UNDO_TABLE_COLUMNS = (
    ('course', 'course'),
    ('status', 'status'),
    ('removed', 'removed'),
    ('reverted', 'reverted'),
    ('roles_unassigned', 'roles unassigned'),
    ('left_alone', 'left alone'),
)


def _users(value):
    return [u for u in (value or []) if isinstance(u, dict)]


def _count(result, name, counted_as=None):
    """How many users a step's result lists under ``name``; from its ``counts`` when the list was left
    out (option user_lists=false: the per-user lists are left out, the counts stay)."""
    if name in result:
        return len(_users(result[name]))
    return int((result.get('counts') or {}).get(counted_as or name) or 0)


def _username(user):
    return user.get('username') or str(user.get('userid', '?'))


def _skipped_users(restore):
    """Users not restored and role copies not given (with ``role``), then users kept suspended."""
    skipped = [dict({'username': _username(u), 'reason': u.get('reason') or 'unknown'},
                    **({'role': u['role']} if u.get('role') else {}))
               for u in _users(restore.get('skipped_users'))]
    skipped += [{'username': _username(u), 'reason': 'kept_suspended'}
                for u in _users(restore.get('kept_suspended'))]
    return skipped


def _base_record(course, site):
    return {'course': str(course), 'site': site or '', 'course_id': None,
            'shortname': None, 'status': None, 'backup_file': None,
            'backup_written': False, 'converted': 0, 'created': 0,
            'updated': 0, 'unchanged': 0, 'end': None, 'end_reason': None, 'end_dates_set': 0,
            'skipped': [], 'failed_step': None, 'message': None, 'missing_methods': [],
            'state': 'present', 'removed': 0, 'reverted': 0, 'roles_unassigned': 0, 'left_alone': []}


def _left_alone(restore):
    """Fields an undo left as they were, because someone changed them since the runs."""
    return [{'username': _username(u), 'field': u.get('field'), 'expected': u.get('expected'), 'found': u.get('found')}
            for u in _users(restore.get('left_alone'))]


def _undo_record(record, restore):
    """Fill a course's record with what its undo (moodle_restore_manual state=absent) did."""
    info = restore.get('course') or {}
    record.update(state='absent', course_id=info.get('id'), shortname=info.get('shortname'),
                  removed=_count(restore, 'removed'), reverted=_count(restore, 'reverted'),
                  roles_unassigned=int(restore.get('roles_unassigned') or 0), left_alone=_left_alone(restore))


def keep_access_course_result(backup, restore=None, end_result=None, course=None,
                              site=None, failure=None, failed_step=None, check_mode=False):
    """One course's record, from the registered module results.

    ``backup``, ``restore`` and ``end_result`` are what the modules returned
    (a step that did not run is ``None``/undefined). ``failure`` is
    ``ansible_failed_result`` when the course failed, ``failed_step`` the name
    of the task that failed. In ``check_mode`` the backup was temporary, so
    no backup file is reported.
    """
    backup = backup if isinstance(backup, dict) else {}
    restore = restore if isinstance(restore, dict) else {}
    end_result = end_result if isinstance(end_result, dict) else {}
    record = _base_record(course, site)
    if backup.get('skipped'):       # keep_access_state=absent: no backup, the restore step undid
        _undo_record(record, restore)
    info = backup.get('course') or {}
    if info:
        record['course_id'] = info.get('id')
        record['shortname'] = info.get('shortname')
    if not check_mode:
        record['backup_file'] = restore.get('backup_file') or backup.get('backup_file')
    record['backup_written'] = bool(backup.get('backup_written'))
    record['missing_methods'] = [str(m) for m in backup.get('missing_methods') or ()]
    record['created'] = _count(restore, 'created')
    record['updated'] = _count(restore, 'updated')
    record['unchanged'] = _count(restore, 'unchanged')
    record['converted'] = record['created'] + record['updated']
    record['skipped'] = _skipped_users(restore)
    record['end'] = end_result.get('end_iso')
    # end dates written with the restore (its option end_date) and by the end-date step
    record['end_dates_set'] = _count(restore, 'end_dates_set') + _count(end_result, 'changed_users', 'changed')
    if failure is not None:
        record['status'] = 'failed'
        record['failed_step'] = failed_step
        record['message'] = _failure_message(failure)
    elif any(r.get('changed') for r in (backup, restore, end_result)):
        record['status'] = 'changed'
    else:
        record['status'] = 'ok'
    return record


# the variables the role keep_access registers (one per step) and the one it sets on failure
REGISTERED_RESULTS = ('keep_access_backup', 'keep_access_restore', 'keep_access_end_result')
FAILURE_RECORD = 'keep_access_result'


def keep_access_host_result(hostvars, check_mode=False, default_site=None):
    """One course's record from its host variables (``hostvars[host]``), or None when the role did not run.

    The failure record the role set (``keep_access_result``) wins; otherwise the
    record is built from the three registered results. The site is the host's
    ``moodle_url``, else ``default_site`` (MOODLE_URL of the controller).
    """
    if FAILURE_RECORD in hostvars and isinstance(hostvars[FAILURE_RECORD], dict):
        return hostvars[FAILURE_RECORD]
    results = [hostvars[name] if name in hostvars else None for name in REGISTERED_RESULTS]
    if results[0] is None:
        return None
    site = hostvars['moodle_url'] if 'moodle_url' in hostvars else default_site
    record = keep_access_course_result(*results, course=hostvars['inventory_hostname'], site=site,
                                       check_mode=check_mode)
    record['end_reason'] = _end_reason(hostvars) if record['state'] == 'present' else None
    return record


def _end_reason(hostvars):
    """Which end date the course got and why (keep_access_course_end), from its variables."""
    if 'keep_access_end' not in hostvars:
        return None
    value = dict((name, hostvars[name] if name in hostvars else None)
                 for name in ('moodle_course_enddate', 'keep_access_end_fallback', 'keep_access_end_min_days'))
    try:
        return keep_access_course_end(hostvars['keep_access_end'], value['moodle_course_enddate'],
                                      value['keep_access_end_fallback'], value['keep_access_end_min_days'] or 0)['reason']
    except AnsibleFilterError as err:
        return str(err.message)


def _failure_message(failure):
    if isinstance(failure, dict):
        message = failure.get('msg') or failure.get('message')
        if not message and failure.get('results'):
            message = '; '.join(str(r.get('msg')) for r in failure['results'] if isinstance(r, dict) and r.get('msg'))
        return str(message or 'failed without a message')
    return str(failure)


def _totals(records):
    statuses = Counter(r['status'] for r in records)
    return {
        'courses': len(records),
        'changed': statuses.get('changed', 0),
        'ok': statuses.get('ok', 0),
        'failed': statuses.get('failed', 0),
        'converted': sum(r['converted'] for r in records),
        'end_dates_set': sum(r['end_dates_set'] for r in records),
        'skipped': sum(len(r['skipped']) for r in records),
        'missing_methods': dict(Counter(m for r in records for m in r.get('missing_methods') or ())),
        'removed': sum(r.get('removed', 0) for r in records),
        'reverted': sum(r.get('reverted', 0) for r in records),
        'left_alone': sum(len(r.get('left_alone', [])) for r in records),
    }


def _failed(records):
    return [{'site': r['site'], 'course': r['course'], 'step': r['failed_step'],
             'message': r['message']} for r in records if r['status'] == 'failed']


def _skip_label(skip):
    return '%s %s' % (skip['reason'], skip['role']) if skip.get('role') else skip['reason']


def _skipped_reasons(record):
    counts = Counter(_skip_label(s) for s in record['skipped'])
    return '; '.join('%s: %d' % (reason, counts[reason]) for reason in sorted(counts))


def _left_alone_text(record):
    return '; '.join('%s %s: expected %s, found %s' % (f['username'], f['field'], f['expected'], f['found'])
                     for f in record.get('left_alone', []))


def _csv_text(records):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = dict(record, skipped=len(record['skipped']), skipped_reasons=_skipped_reasons(record),
                   missing_methods=' '.join(record.get('missing_methods') or ()),
                   left_alone=len(record.get('left_alone', [])), left_alone_fields=_left_alone_text(record))
        writer.writerow(['' if row.get(col) is None else row.get(col) for col in CSV_COLUMNS])
    return out.getvalue()


def _table_cells(record):
    return {
        'course': record['course'],
        'status': record['status'],
        'converted': str(record['converted']),
        'end_dates_set': str(record['end_dates_set']),
        'skipped': _skipped_reasons(record) or '0',
        'backup': os.path.basename(record['backup_file'] or '') or '-',
        'removed': str(record.get('removed', 0)),
        'reverted': str(record.get('reverted', 0)),
        'roles_unassigned': str(record.get('roles_unassigned', 0)),
        'left_alone': str(len(record.get('left_alone', []))),
    }


def _needs_a_look(record):
    return record['status'] == 'failed' or bool(record['skipped']) or bool(record.get('left_alone'))


def _table_lines(records, totals, failed, check_mode, table_rows=TABLE_ROWS):
    undo = any(r.get('state') == 'absent' for r in records)
    columns = UNDO_TABLE_COLUMNS if undo else TABLE_COLUMNS
    shown = records if len(records) <= table_rows else [r for r in records if _needs_a_look(r)][:table_rows]
    rows = [dict((key, title) for key, title in columns)]
    rows += [_table_cells(r) for r in shown]
    widths = dict((key, max(len(row[key]) for row in rows)) for key, dummy in columns)

    def line(row):
        return '  '.join(row[key].ljust(widths[key]) for key, dummy in columns).rstrip()

    title = 'keep_access undo report' if undo else 'keep_access run report'
    lines = ['%s%s' % (title, ' (check mode: nothing was changed)' if check_mode else '')]
    if shown:
        lines.append(line(rows[0]))
        lines.append('  '.join('-' * widths[key] for key, dummy in columns))
    lines += [line(row) for row in rows[1:]]
    if len(shown) < len(records):
        lines.append('(%d of %d courses listed: those that failed, skipped users or left fields alone; every '
                     'course is in the report files)' % (len(shown), len(records)))
    if undo:
        lines.append('totals: %(courses)d courses (%(changed)d changed, %(ok)d ok, %(failed)d failed); '
                     '%(removed)d manual enrolments removed, %(reverted)d put back, %(left_alone)d fields left alone '
                     '(changed since the run)' % totals)
        lines += ['LEFT ALONE %s: %s' % (r['course'], _left_alone_text(r)) for r in records if r.get('left_alone')]
    else:
        lines.append('totals: %(courses)d courses (%(changed)d changed, %(ok)d ok, %(failed)d failed); '
                     '%(converted)d users converted, %(end_dates_set)d end dates set, %(skipped)d skipped' % totals
                     + _missing_methods_text(totals['missing_methods']))
    for failure in failed:
        lines.append('FAILED %s [%s]: %s' % (failure['course'], failure['step'] or '-', failure['message']))
    return lines


def _missing_methods_text(missing):
    """'; courses without cohort: 200' (normal: a course fed by one source), '' when every course has all."""
    if not missing:
        return ''
    return '; courses without %s' % ', '.join('%s: %d' % (method, missing[method]) for method in sorted(missing))


def _parse_time(generated_at):
    if generated_at is None:
        return datetime.now(timezone.utc)
    if isinstance(generated_at, datetime):
        return generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=timezone.utc)
    try:
        return datetime.fromisoformat(str(generated_at).replace('Z', '+00:00')).astimezone(timezone.utc)
    except ValueError:
        raise AnsibleFilterError('keep_access_report: generated_at %r is not an ISO date and time' % (generated_at,))


def _not_run(host):
    record = _base_record(host, None)
    record.update(status='failed', message=NOT_RUN_MESSAGE)
    return record


def keep_access_report(records, check_mode=False, generated_at=None, hosts=None, table_rows=TABLE_ROWS):
    """The run report from the per-course records (a list; undefined entries dropped).

    ``hosts`` (the play's hosts) adds a failed line for each host without a
    record: it failed before the role could record anything. The printed table lists every course of a
    run of at most ``table_rows`` courses, else only (up to ``table_rows`` of) those that failed or skipped
    users; the JSON and CSV hold every course.
    """
    if not isinstance(records, (list, tuple)):
        raise AnsibleFilterError('keep_access_report expects a list of course records, got %s' % type(records).__name__)
    records = [r for r in records if isinstance(r, dict) and r.get('course')]
    recorded = set(r['course'] for r in records)
    records += [_not_run(host) for host in hosts or () if host not in recorded]
    records.sort(key=lambda r: (r['course'], r.get('site') or ''))
    when = _parse_time(generated_at)
    totals = _totals(records)
    failed = _failed(records)
    summary = {
        'format': REPORT_FORMAT,
        'format_version': REPORT_FORMAT_VERSION,
        'generated_at': when.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'check_mode': bool(check_mode),
        'totals': totals,
        'courses': records,
        'failed': failed,
    }
    return {
        'summary': summary,
        'csv': _csv_text(records),
        'table': _table_lines(records, totals, failed, check_mode, table_rows),
        'file_stem': 'keep-access-report-' + when.strftime('%Y%m%dT%H%M%S.%fZ'),
    }


class FilterModule(object):
    """keep_access report filters."""

    def filters(self):
        return {
            'keep_access_course_result': keep_access_course_result,
            'keep_access_host_result': keep_access_host_result,
            'keep_access_report': keep_access_report,
        }
