# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a keep_access run report (filter cemu.moodle.keep_access_report) as its JSON and CSV files.

The folder is made (or set to) 0700; each file is written atomically with
mode 0600 (the report names students' accounts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.cemu.moodle.plugins.module_utils.backup_store import (
    DIR_MODE, atomic_write, make_private_dirs)

EXTENSIONS = ('json', 'csv')


def report_paths(directory, file_stem):
    """{'json': path, 'csv': path} of a report named ``file_stem`` in ``directory``."""
    return dict((extension, os.path.join(directory, '%s.%s' % (file_stem, extension))) for extension in EXTENSIONS)


def report_contents(summary, csv_text):
    """{'json': bytes, 'csv': bytes}: the summary as indented JSON with sorted keys, the CSV as given."""
    text = json.dumps(summary, indent=2, sort_keys=True, separators=(',', ': ')) + '\n'
    return {'json': text.encode('utf-8'), 'csv': (csv_text or '').encode('utf-8')}


def write_report(directory, file_stem, summary, csv_text):
    """Write both files; return their paths. ``directory`` (and missing parents) is created 0700 when missing,
    and an existing one set to 0700."""
    make_private_dirs(directory)
    os.chmod(directory, DIR_MODE)
    paths = report_paths(directory, file_stem)
    contents = report_contents(summary, csv_text)
    for extension in EXTENSIONS:
        atomic_write(paths[extension], contents[extension], overwrite=True)
    return paths
