#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: keep_access_report_files
short_description: Write the keep_access run report as JSON and CSV files
version_added: 0.3.0
description:
  - Writes a run report built by the filter C(cemu.moodle.keep_access_report) as two files in O(dest),
    C(<file_stem>.json) (the summary) and C(<file_stem>.csv) (one line per course).
  - The folder is created when missing and set to mode 0700; each file is written atomically with mode 0600,
    because the report names students' accounts.
  - Role C(cemu.moodle.keep_access) runs it once per run, on the controller, where its action plugin
    writes the files in Ansible's worker process, without a module process.
author:
  - cemu.moodle contributors (@cemu-moodle)
options:
  dest:
    description:
      - Folder the two files are written in.
    type: path
    required: true
  report:
    description:
      - The result of the filter C(cemu.moodle.keep_access_report); its keys C(summary), C(csv) and
        C(file_stem) are used.
    type: dict
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is written; role C(cemu.moodle.keep_access) writes the report of a check run
        with C(check_mode=false).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
'''

EXAMPLES = r'''
- name: Write the run report
  cemu.moodle.keep_access_report_files:
    dest: /srv/keep_access/reports
    report: "{{ keep_access_report }}"
  delegate_to: localhost
  run_once: true
  check_mode: false
'''

RETURN = r'''
json_file:
  description: Path of the JSON file.
  returned: always
  type: str
  sample: /srv/keep_access/reports/keep-access-report-20270901T020000.000000Z.json
csv_file:
  description: Path of the CSV file.
  returned: always
  type: str
  sample: /srv/keep_access/reports/keep-access-report-20270901T020000.000000Z.csv
'''


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cemu.moodle.plugins.module_utils.backup_store import BackupError
from ansible_collections.cemu.moodle.plugins.module_utils.report_files import report_paths, write_report

REPORT_KEYS = ('summary', 'csv', 'file_stem')
# no Moodle connection options: the action plugin runs run(module) as it is
MOODLE_CONNECTION = False


def argument_spec():
    return dict(
        dest=dict(type='path', required=True),
        report=dict(type='dict', required=True),
    )


def run(module):
    """Write the files (not in check mode) and exit; ``module`` is an AnsibleModule or its in-process stand-in."""
    report = module.params['report']
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        module.fail_json(msg='report lacks %s: give the result of the filter cemu.moodle.keep_access_report'
                         % ', '.join(missing))
    dest = module.params['dest']
    if module.check_mode:
        paths = report_paths(dest, report['file_stem'])
    else:
        try:
            paths = write_report(dest, report['file_stem'], report['summary'], report['csv'])
        except OSError as err:
            module.fail_json(msg='cannot write the run report in %s: %s' % (dest, err.strerror or err))
        except BackupError as err:      # a folder that could not be created
            module.fail_json(msg='cannot write the run report in %s: %s' % (dest, err))
    module.exit_json(changed=True, json_file=paths['json'], csv_file=paths['csv'])


def main():
    run(AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True))


if __name__ == '__main__':
    main()
