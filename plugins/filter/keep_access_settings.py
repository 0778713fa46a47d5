# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter keep_access_settings: the keep_access variables a course host has, to validate each distinct set once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def keep_access_settings(hostvars, names):
    """{name: value} of the variables ``names`` (a list, or the options of an argument spec) the host has."""
    return dict((name, hostvars[name]) for name in sorted(names) if name in hostvars)


class FilterModule(object):
    """keep_access settings filter."""

    def filters(self):
        return {'keep_access_settings': keep_access_settings}
