# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy the checkout to ``.cache/ac/ansible_collections/cemu/moodle``.

ansible-test only works when the current directory really is
``.../ansible_collections/<namespace>/<name>`` (a symlink does not do: the
working directory is resolved), so the test suite runs it in a copy of the
collection's files: the files git tracks plus untracked ones that are not
ignored, or, outside a git checkout, every file but the known junk below.
Repeated runs only copy what changed and delete what is gone, and keep
``tests/output`` (ansible-test's own results and caches) and ``.ansible``
(ansible-lint's). The stage is a git work tree of its own: see make_git_root.

Run ``python -m tests.tools.stage_collection`` to print the staged path.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGE_COLLECTIONS_ROOT = os.path.join(REPO_ROOT, '.cache', 'ac')
STAGE_DIR = os.path.join(STAGE_COLLECTIONS_ROOT, 'ansible_collections', 'cemu', 'moodle')

# Never part of the collection, whatever git says: virtualenvs, caches,
# tools' working directories, test results, backups and reports of test runs.
JUNK_DIRS = frozenset(('.git', '.venv', '.cache', '.ansible', '.pytest_cache', '__pycache__'))
JUNK_ROOT_DIRS = ('backups', 'reports', 'demo-output', 'build', os.path.join('tests', 'output'))
JUNK_SUFFIXES = ('.pyc', '.pyo', '.retry', '.tar.gz')

# Directories in the stage that belong to the stage's git and the tools run there, not to the checkout.
KEPT_IN_STAGE = ('.git', '.ansible', os.path.join('tests', 'output'))


def is_junk(relpath):
    """Tell whether a path relative to the repository root is never staged."""
    parts = relpath.split(os.sep)
    if any(part in JUNK_DIRS for part in parts[:-1]) or parts[-1] in JUNK_DIRS:
        return True
    if any(relpath == sub or relpath.startswith(sub + os.sep) for sub in JUNK_ROOT_DIRS):
        return True
    return relpath.endswith(JUNK_SUFFIXES)


def git_files(repo_root):
    """Return git's tracked plus untracked-not-ignored files, or None outside git."""
    if not os.path.isdir(os.path.join(repo_root, '.git')):
        return None
    try:
        output = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                                cwd=repo_root, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [os.fsdecode(name) for name in output.split(b'\0') if name]


def walked_files(repo_root):
    """Return every file below repo_root, relative to it, skipping junk directories."""
    found = []
    for root, dirs, files in os.walk(repo_root):
        rel_root = os.path.relpath(root, repo_root)
        dirs[:] = [d for d in dirs if not is_junk(os.path.normpath(os.path.join(rel_root, d)))]
        found.extend(os.path.normpath(os.path.join(rel_root, name)) for name in files)
    return found


def collection_files(repo_root=REPO_ROOT):
    """Return the sorted relative paths of the files that make up the collection."""
    names = git_files(repo_root)
    if names is None:
        names = walked_files(repo_root)
    return sorted(name for name in set(names)
                  if not is_junk(name) and os.path.lexists(os.path.join(repo_root, name)))


def same_file(source, target):
    """Tell whether target already is a copy of source (symlinks compared by target)."""
    if os.path.islink(source) or os.path.islink(target):
        return os.path.islink(source) and os.path.islink(target) and os.readlink(source) == os.readlink(target)
    return os.path.isfile(target) and filecmp.cmp(source, target, shallow=True)


def copy_file(source, target):
    """Copy one file (or symlink, as a symlink) with its mode and times."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target) or os.path.isdir(target):
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.unlink(target)
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    else:
        shutil.copy2(source, target)


def is_kept_in_stage(relpath):
    """Tell whether a staged path belongs to the stage's own git or a tool's working directory."""
    return any(relpath == kept or relpath.startswith(kept + os.sep) for kept in KEPT_IN_STAGE)


def staged_paths(stage_dir):
    """Return the stage's files (and symlinks) and directories, deepest first, minus kept ones."""
    files, dirs = [], []
    for root, dir_names, file_names in os.walk(stage_dir):
        rel_root = os.path.relpath(root, stage_dir)
        relpath = os.path.normpath(os.path.join(rel_root, '{}'))
        dir_names[:] = [d for d in dir_names if not is_kept_in_stage(relpath.format(d))]
        files.extend(relpath.format(name) for name in file_names)
        files.extend(relpath.format(d) for d in dir_names if os.path.islink(os.path.join(root, d)))
        dirs.extend(relpath.format(d) for d in dir_names if not os.path.islink(os.path.join(root, d)))
    return files, sorted(dirs, key=len, reverse=True)


def remove_stale(stage_dir, wanted):
    """Delete staged files and empty directories the checkout no longer has."""
    files, dirs = staged_paths(stage_dir)
    for relpath in files:
        if relpath not in wanted:
            os.unlink(os.path.join(stage_dir, relpath))
    for relpath in dirs:
        if not os.listdir(os.path.join(stage_dir, relpath)):
            os.rmdir(os.path.join(stage_dir, relpath))


def make_git_root(stage_dir):
    """Make the stage its own git work tree, so ansible-test does not use the checkout's git.

    ansible-test lists a collection's files with git when the collection or
    any directory above it has a ``.git``; the stage lies inside the checkout,
    whose git ignores it. A repository of its own (no commits needed) makes
    git list the stage's files, minus ``tests/output``.
    """
    if os.path.isdir(os.path.join(stage_dir, '.git')) or shutil.which('git') is None:
        return
    subprocess.run(['git', 'init', '--quiet', stage_dir], check=True)
    with open(os.path.join(stage_dir, '.git', 'info', 'exclude'), 'a', encoding='utf-8') as exclude:
        exclude.write(''.join('/%s/\n' % kept for kept in KEPT_IN_STAGE if kept != '.git'))


def stage(repo_root=REPO_ROOT, stage_dir=STAGE_DIR):
    """Make stage_dir an exact copy of the collection's files; return stage_dir."""
    files = collection_files(repo_root)
    os.makedirs(stage_dir, exist_ok=True)
    make_git_root(stage_dir)
    remove_stale(stage_dir, set(files))
    for relpath in files:
        source = os.path.join(repo_root, relpath)
        target = os.path.join(stage_dir, relpath)
        if not same_file(source, target):
            copy_file(source, target)
    return stage_dir


def main():
    """Stage the collection and print where."""
    sys.stdout.write(stage() + '\n')


if __name__ == '__main__':
    main()
