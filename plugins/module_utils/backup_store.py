# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup files and restore records on disk (docs/design.md, "Backup file").

Layout: ``{backup_dir}/{site_key}/course-{id}/enrolments-{stamp}.json`` and
``.../course-{id}/restores/{backup file name}``. Directories 0700, files
0600, every write atomic (temp file in the same directory, fsync, rename).
A backup file is never overwritten.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import tempfile

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urlsplit

BACKUP_FORMAT = 'cemu.moodle.enrolment_backup'
RECORD_FORMAT = 'cemu.moodle.restore_record'
FORMAT_VERSION = 1
BACKUP_NAME = re.compile(r'^enrolments-\d{8}T\d{6}\.\d{6}Z\.json$')
DEFAULT_BACKUP_DIR = '~/.local/share/cemu.moodle/backups'
# the enrolment methods moodle_backup_enrolments backs up by default
DEFAULT_METHODS = ('database', 'cohort')
DIR_MODE = 0o700
FILE_MODE = 0o600

_ROW_INTS = ('userid', 'instanceid', 'status', 'timestart', 'timeend')
_ROW_STRS = ('username', 'enrol')
_INSTANCE_INTS = ('id', 'status')


class BackupError(Exception):
    """A backup or record that cannot be used; the message names the file."""


def normalize_url(url):
    """scheme://host[:port][/path] lowercased where Moodle is case-blind, without trailing slash."""
    parts = urlsplit(url.strip())
    netloc = (parts.hostname or '') + (':%d' % parts.port if parts.port else '')
    return '%s://%s%s' % (parts.scheme.lower(), netloc.lower(), parts.path.rstrip('/'))


def site_key(url):
    """host[_port][_path], lowercased, every character outside [a-z0-9.-] turned into '_'."""
    parts = urlsplit(url.strip())
    key = (parts.hostname or 'site') + ('_%d' % parts.port if parts.port else '')
    path = parts.path.strip('/')
    if path:
        key += '_' + path
    return re.sub(r'[^a-z0-9.-]', '_', key.lower())


def backup_file_name(moment):
    """File name for a backup taken at ``moment`` (an aware UTC datetime)."""
    return moment.strftime('enrolments-%Y%m%dT%H%M%S.%fZ.json')


class BackupStore:
    """The backups and restore records of one course of one site."""

    def __init__(self, backup_dir, site_url, course):
        self.site_url = normalize_url(site_url)
        self.course = course
        self.root = os.path.abspath(os.path.expanduser(backup_dir))
        self.course_dir = os.path.join(self.root, site_key(site_url), 'course-%d' % int(course['id']))
        self.records_dir = os.path.join(self.course_dir, 'restores')

    # ------------------------------------------------------------ backups
    def backups(self):
        """Paths of the course's backups, oldest first (names sort by time)."""
        try:
            names = os.listdir(self.course_dir)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return []
            raise BackupError('cannot list backups in %s: %s' % (self.course_dir, exc.strerror))
        return [os.path.join(self.course_dir, n) for n in sorted(names) if BACKUP_NAME.match(n)]

    def newest(self):
        found = self.backups()
        return found[-1] if found else None

    def write_backup(self, document, moment):
        """Write a new backup file; never replaces an existing one. Returns its path."""
        make_private_dirs(self.course_dir)
        path = os.path.join(self.course_dir, backup_file_name(moment))
        atomic_write(path, _dump(document), overwrite=False)
        return path

    def load_backup(self, path):
        """Read and check a backup: format, version, site and course must be this store's."""
        document = _read_json(path, 'backup file')
        if not isinstance(document, dict) or document.get('format') != BACKUP_FORMAT:
            raise BackupError('backup file %s is not a cemu.moodle enrolment backup' % path)
        if document.get('format_version') != FORMAT_VERSION:
            raise BackupError('backup file %s has format version %r; this collection reads version %d'
                              % (path, document.get('format_version'), FORMAT_VERSION))
        self._check_origin(path, document)
        _check_backup_shape(path, document)
        return document

    def _check_origin(self, path, document):
        site = document.get('site') if isinstance(document.get('site'), dict) else {}
        if normalize_url(str(site.get('url', ''))) != self.site_url:
            raise BackupError('backup file %s was taken from site %s, not from %s'
                              % (path, site.get('url'), self.site_url))
        course = document.get('course') if isinstance(document.get('course'), dict) else {}
        if course.get('id') != int(self.course['id']):
            raise BackupError('backup file %s is a backup of course %s (%s), not of course %s (%s)'
                              % (path, course.get('id'), course.get('shortname'),
                                 self.course['id'], self.course.get('shortname')))

    def retention_victims(self, keep, pending=None):
        """Backups beyond the newest ``keep`` (0 = keep all), except those with a restore record.

        ``pending``: path of a backup about to be written (check mode), counted as the newest.
        """
        if keep <= 0:
            return []
        older = (self.backups() + ([pending] if pending else []))[:-keep]
        return [p for p in older if p != pending and not os.path.exists(self.record_path(p))]

    def remove_backups(self, paths):
        for path in paths:
            os.unlink(path)
        if paths:
            _fsync_dir(self.course_dir)

    # ------------------------------------------------------------ restore records
    def record_path(self, backup_path):
        return os.path.join(self.records_dir, os.path.basename(backup_path))

    def load_record(self, backup_path):
        """The restore record of a backup, or None when that backup was never restored."""
        path = self.record_path(backup_path)
        if not os.path.exists(path):
            return None
        record = _read_json(path, 'restore record')
        if not isinstance(record, dict) or record.get('format') != RECORD_FORMAT \
                or record.get('format_version') != FORMAT_VERSION:
            raise BackupError('restore record %s is not a cemu.moodle restore record (format version %d)'
                              % (path, FORMAT_VERSION))
        return record

    def save_record(self, backup_path, changes, earlier=False):
        """Merge ``changes`` into ``earlier`` (default: the record on disk) and write it. Returns its path."""
        record = merge_record(self.load_record(backup_path) if earlier is False else earlier, changes)
        record.update({'format': RECORD_FORMAT, 'format_version': FORMAT_VERSION,
                       'backup_file': os.path.basename(backup_path),
                       'course': dict((k, self.course.get(k)) for k in ('id', 'shortname', 'idnumber', 'fullname')),
                       'site': {'url': self.site_url}})
        make_private_dirs(self.records_dir)
        path = self.record_path(backup_path)
        atomic_write(path, _dump(record), overwrite=True)
        return path

    def remove_record(self, backup_path):
        path = self.record_path(backup_path)
        if os.path.exists(path):
            os.unlink(path)
            _fsync_dir(self.records_dir)

    def all_records(self):
        """Every restore record of the course, oldest backup first."""
        return [r for r in (self.load_record(p) for p in self.backups()) if r is not None]

    def restored_backups(self):
        """Every backup of the course that has a restore record, oldest first."""
        return [p for p in self.backups() if os.path.exists(self.record_path(p))]

    def newest_restored(self):
        """The newest backup that has a restore record, or None."""
        restored = [p for p in self.backups() if os.path.exists(self.record_path(p))]
        return restored[-1] if restored else None


def merge_record(earlier, changes):
    """Union of what two restores from the same backup did; the first ``before`` of a user wins.

    ``settled_users``: users a restore of the backup has completely applied (not merged again);
    ``deleted_users``: users Moodle refused as deleted (never sent again).
    """
    merged = dict(earlier or {})
    merged['created_enrolments'] = _union(merged.get('created_enrolments', []),
                                          changes.get('created_enrolments', []), lambda userid: userid)
    merged['updated_enrolments'] = _union(merged.get('updated_enrolments', []),
                                          changes.get('updated_enrolments', []), lambda u: u['userid'])
    merged['assigned_roles'] = _union(merged.get('assigned_roles', []), changes.get('assigned_roles', []),
                                      lambda a: (a['userid'], a['roleid']))
    for name in ('settled_users', 'deleted_users'):
        merged[name] = sorted(set(merged.get(name, [])) | set(changes.get(name, [])))
    return merged


def _union(first, second, key):
    """``first`` followed by the items of ``second`` whose key ``first`` lacks."""
    seen = set(key(item) for item in first)
    return list(first) + [item for item in second if key(item) not in seen]


def record_would_change(earlier, changes):
    """Whether merging ``changes`` adds anything to the record ``earlier``."""
    return merge_record(earlier, changes) != merge_record(earlier, {})


# ---------------------------------------------------------------- checks

def _check_backup_shape(path, document):
    instances = document.get('instances')
    rows = document.get('enrolments')
    if not isinstance(instances, list) or not isinstance(rows, list):
        raise BackupError('backup file %s is damaged: instances and enrolments must be lists' % path)
    instance_ids = set()
    for index, instance in enumerate(instances):
        _require(path, 'instances[%d]' % index, instance, _INSTANCE_INTS, ('enrol',))
        instance_ids.add(instance['id'])
    for index, row in enumerate(rows):
        where = 'enrolments[%d]' % index
        _require(path, where, row, _ROW_INTS, _ROW_STRS)
        if row['instanceid'] not in instance_ids:
            raise BackupError('backup file %s is damaged: %s refers to instance %s, which it does not list'
                              % (path, where, row['instanceid']))
        roles = row.get('roles', [])
        if not isinstance(roles, list):
            raise BackupError('backup file %s is damaged: %s.roles must be a list' % (path, where))
        for rindex, role in enumerate(roles):
            _require(path, '%s.roles[%d]' % (where, rindex), role, ('roleid',), ('shortname',))


def _require(path, where, item, ints, strs):
    if not isinstance(item, dict):
        raise BackupError('backup file %s is damaged: %s must be an object' % (path, where))
    for name in ints:
        if not isinstance(item.get(name), int) or isinstance(item.get(name), bool):
            raise BackupError('backup file %s is damaged: %s.%s must be an integer' % (path, where, name))
    for name in strs:
        if not isinstance(item.get(name), str):
            raise BackupError('backup file %s is damaged: %s.%s must be a string' % (path, where, name))


# ---------------------------------------------------------------- files

def _read_json(path, what):
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise BackupError('cannot read %s %s: %s' % (what, path, exc.strerror))
    try:
        return json.loads(data.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError('%s %s is damaged or not JSON: %s' % (what, path, exc))


def _dump(document):
    """JSON with sorted keys and one row (object in a list) per line: readable, diffable, fast (C encoder)."""
    members = []
    for key in sorted(document):
        value = document[key]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            text = '[\n  %s\n ]' % ',\n  '.join(_compact(item) for item in value)
        else:
            text = _compact(value)
        members.append(' %s: %s' % (_compact(key), text))
    return ('{\n%s\n}\n' % ',\n'.join(members)).encode('utf-8')


def _compact(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def make_private_dirs(path):
    """Create ``path`` and missing parents with mode 0700."""
    missing = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise BackupError('cannot create directory %s: %s' % (directory, exc.strerror))
        os.chmod(directory, DIR_MODE)


def atomic_write(path, data, overwrite):
    """Write ``data`` to ``path`` through a 0600 temp file in the same directory, fsynced."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix='.tmp-', dir=directory)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            _link_new(temp, path)
        _fsync_dir(directory)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _link_new(temp, path):
    """Give ``temp`` the name ``path`` only if nothing has that name yet."""
    try:
        os.link(temp, path)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise BackupError('refusing to overwrite existing backup %s' % path)
        if os.path.exists(path):
            raise BackupError('refusing to overwrite existing backup %s' % path)
        os.replace(temp, path)  # file system without hard links
        return
    os.unlink(temp)


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
