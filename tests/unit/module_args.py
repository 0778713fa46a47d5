# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module in-process with given arguments, on every ansible-core the collection supports (2.15+).

ansible-core 2.19 added ``ansible.module_utils.testing.patch_module_args`` and
``ansible.module_utils._internal.is_controller``; before 2.19 a module read
its arguments from ``ansible.module_utils.basic._ANSIBLE_ARGS`` and had no
controller mode.
"""

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args as _patch_module_args
    from ansible.module_utils import _internal as _module_utils_internal
except ImportError:  # ansible-core < 2.19
    _patch_module_args = _module_utils_internal = None


@contextlib.contextmanager
def patch_module_args(args):
    """Give the next AnsibleModule these arguments."""
    if _patch_module_args is not None:
        with _patch_module_args(args):
            yield
        return
    with mock.patch.object(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))):
        yield


@contextlib.contextmanager
def as_target():
    """Run as on a target even when a test loaded Ansible's controller code (2.19+ then sends module warnings
    to the display instead of the result)."""
    if _module_utils_internal is None:
        yield
        return
    with mock.patch.object(_module_utils_internal, 'is_controller', False):
        yield
