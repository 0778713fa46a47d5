# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the ``get-pip.py`` script that ansible-test downloads.

ansible-test bootstraps pip into each virtual environment it creates by
running ``get-pip-<version>.py`` from Ansible's CI file host, cached at
``~/.ansible/test/cache/get_pip_<version>.py``. Where that host cannot be
reached, ``tests/tools/suite.py`` copies this file to the cache path.

Like the real script it installs the pip given on its command line into the
running interpreter: it bootstraps pip with ``ensurepip`` (in a subprocess,
so that ensurepip's ``PIP_CONFIG_FILE=/dev/null`` does not reach the install
and pip keeps using the machine's configuration), then runs
``python -m pip install`` with the arguments it was given. Their output is
shown only when they fail.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py options that ``pip install`` does not know.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def pip_install_arguments(argv):
    """Return get-pip.py's arguments as ``pip install`` arguments."""
    return [arg for arg in argv if arg not in GET_PIP_ONLY_OPTIONS]


def run_quietly(command):
    """Run a command; show its output only when it fails, and fail with its status."""
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout.decode('utf-8', 'replace'))
        sys.exit(completed.returncode)


def main():
    """Bootstrap pip, then install what ansible-test asked for."""
    run_quietly([sys.executable, '-m', 'ensurepip', '--default-pip'])
    run_quietly([sys.executable, '-m', 'pip', 'install'] + pip_install_arguments(sys.argv[1:]))


if __name__ == '__main__':
    main()
