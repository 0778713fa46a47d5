# -*- coding: utf-8 -*-
# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options naming the course a module works on (cemu.moodle.course)."""

    DOCUMENTATION = r'''
options:
  course:
    description:
      - The course, by id, shortname or idnumber (see O(course_by)).
    type: str
    required: true
  course_by:
    description:
      - How O(course) is looked up.
      - V(auto) looks up a value of digits as id, shortname and idnumber, and any other value as
        shortname and idnumber. It fails as ambiguous when the value matches two different
        courses (for example one course's id and another's shortname); set O(course_by) then.
      - V(id), V(shortname) and V(idnumber) look up only that field.
    type: str
    choices: [auto, id, shortname, idnumber]
    default: auto
'''
