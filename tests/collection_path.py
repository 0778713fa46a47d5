# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this checkout importable as ``ansible_collections.cemu.moodle``.

Ansible finds a collection only below a path ending in
``ansible_collections/<namespace>/<name>``. Tests and the demo link the
checkout into such a path in the temp directory (outside the work tree, so no
tool walking the tree meets a loop) and return its root, to be put on
``sys.path`` and in ``ANSIBLE_COLLECTIONS_PATH``.
"""

import hashlib
import os
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collections_root():
    """Return a directory D with D/ansible_collections/cemu/moodle -> REPO_ROOT."""
    if os.path.basename(os.path.dirname(os.path.dirname(REPO_ROOT))) == 'ansible_collections':
        return os.path.dirname(os.path.dirname(os.path.dirname(REPO_ROOT)))
    digest = hashlib.sha256(REPO_ROOT.encode()).hexdigest()[:12]
    root = os.path.join(tempfile.gettempdir(), 'cemu-moodle-collections-' + digest)
    namespace_dir = os.path.join(root, 'ansible_collections', 'cemu')
    os.makedirs(namespace_dir, exist_ok=True)
    link = os.path.join(namespace_dir, 'moodle')
    if not os.path.islink(link) or os.readlink(link) != REPO_ROOT:
        tmp_link = link + '.tmp%d' % os.getpid()
        os.symlink(REPO_ROOT, tmp_link)
        os.replace(tmp_link, link)
    return root
