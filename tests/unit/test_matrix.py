# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The version matrix (tests/tools/matrix.py): which versions, which Pythons, what fails it."""

import os
import re

import pytest
import yaml

from tests.tools import matrix
from tests.tools.stage_collection import REPO_ROOT


def minor(version):
    return tuple(int(part) for part in version.split('.')[:2])


def test_the_matrix_covers_every_ansible_core_from_requires_ansible_to_2_21():
    with open(os.path.join(REPO_ROOT, 'meta', 'runtime.yml'), encoding='utf-8') as handle:
        lowest = re.match(r'>=\s*(\d+\.\d+)', yaml.safe_load(handle)['requires_ansible']).group(1)
    versions = [minor(version) for version, _python in matrix.MATRIX]
    assert versions == [(2, n) for n in range(minor(lowest)[1], 22)]


def make_python(directory, name):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('#!/bin/sh\n')
    os.chmod(path, 0o755)
    return path


def test_find_python_skips_pyenv_shims_and_takes_the_newest_pyenv_build(tmp_path):
    shims = str(tmp_path / 'pyenv' / 'shims')
    make_python(shims, 'python3.12')
    make_python(str(tmp_path / 'pyenv' / 'versions' / '3.12.1' / 'bin'), 'python3.12')
    newest = make_python(str(tmp_path / 'pyenv' / 'versions' / '3.12.10' / 'bin'), 'python3.12')
    make_python(str(tmp_path / 'pyenv' / 'versions' / '3.1.2' / 'bin'), 'python3.1')
    environ = {'PATH': shims, 'PYENV_ROOT': str(tmp_path / 'pyenv')}
    assert matrix.find_python('3.12', environ) == newest
    assert matrix.find_python('3.13', environ) is None


def test_find_python_prefers_the_path(tmp_path):
    on_path = make_python(str(tmp_path / 'bin'), 'python3.11')
    make_python(str(tmp_path / 'pyenv' / 'versions' / '3.11.7' / 'bin'), 'python3.11')
    assert matrix.find_python('3.11', {'PATH': str(tmp_path / 'bin'), 'PYENV_ROOT': str(tmp_path / 'pyenv')}) \
        == on_path


def test_the_pip_version_comes_from_the_installed_ansible_test(tmp_path, monkeypatch):
    monkeypatch.setattr(matrix, 'MATRIX_DIR', str(tmp_path))
    source = tmp_path / 'ansible-core-2.15' / 'lib' / 'python3.11' / 'site-packages' / 'ansible_test' / '_internal'
    source.mkdir(parents=True)
    (source / 'python_requirements.py').write_text("    default_packages = dict(\n        pip='23.1.2',\n    )\n")
    assert matrix.ansible_test_pip_version('2.15') == '23.1.2'
    assert matrix.ansible_test_pip_version('2.16') is None


def test_a_failed_setup_fails_the_version_without_running_its_stages(monkeypatch):
    ran = []
    monkeypatch.setattr(matrix, 'STAGE_RUNNERS', {
        'setup': lambda version, python: 1,
        'sanity': lambda version, python: ran.append('sanity') or 0,
        'unit': lambda version, python: ran.append('unit') or 0})
    outcomes = matrix.run_version('2.15', '3.11', ('sanity', 'unit'))
    assert ran == []
    assert [(o.stage, o.status != 0) for o in outcomes] == [('setup', True), ('sanity', True), ('unit', True)]


def test_main_fails_when_one_stage_of_one_version_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(matrix, 'REPORT_DIR', str(tmp_path))
    monkeypatch.setattr(matrix, 'STAGE_RUNNERS', {
        'setup': lambda version, python: 0, 'sanity': lambda version, python: 0,
        'unit': lambda version, python: 1 if version == '2.16' else 0, 'smoke': lambda version, python: 0})
    assert matrix.main(['2.15', '2.16', '--stages', 'unit']) == 1
    assert matrix.main(['2.15', '--stages', 'unit']) == 0
    table = (tmp_path / 'table.txt').read_text()
    assert re.search(r'^2\.15\s+3\.11\s+unit\s+ok\s+\d+\.\d', table, re.M)
    printed = capsys.readouterr().out
    assert re.search(r'^2\.16\s+3\.10\s+unit\s+FAILED\(1\)', printed, re.M)


@pytest.mark.parametrize('argv', [['2.14'], ['--stages', 'lint']])
def test_unknown_versions_and_stages_are_refused(argv):
    with pytest.raises(SystemExit):
        matrix.parse_args(argv)
