# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real ``ansible-playbook`` over course inventories built by cemu.moodle.courses.

Shared by the demo, the integration tests and the benchmark: one place that
knows how to write a site's inventory source and group variables, how to call
the playbook with this checkout as the collection ``cemu.moodle``, and how to
read the PLAY RECAP and the run report.
"""

import glob
import json
import os
import re
import subprocess
import sys

from tests.collection_path import REPO_ROOT, collections_root

PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'keep_access.yml')
# callback live_results: every task's result per host, as JSON, in the file $LIVE_RESULTS_FILE names
RESULTS_CALLBACKS = os.path.join(REPO_ROOT, 'tests', 'live', 'callback_plugins')
RECAP_LINE = re.compile(r'^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$')


def write_site(inventory_dir, url, site_group, token, group_vars=None, host_prefix='', extra=None,
               token_in_group_vars=True):
    """One site in an inventory directory: ``<site_group>.courses.yml`` and its group vars.

    The plugin gets the token through its own option; the playbook through the
    site's group variable ``moodle_token`` (both would be Ansible Vault in real use).
    """
    os.makedirs(os.path.join(inventory_dir, 'group_vars'), exist_ok=True)
    source = {'plugin': 'cemu.moodle.courses', 'moodle_url': url, 'moodle_token': token,
              'site_group': site_group, 'host_prefix': host_prefix}
    source.update(extra or {})
    variables = dict(group_vars or {})
    if token_in_group_vars:
        variables['moodle_token'] = token
    _write_private(os.path.join(inventory_dir, site_group + '.courses.yml'), source)
    _write_private(os.path.join(inventory_dir, 'group_vars', site_group + '.yml'), variables)


def write_host_vars(inventory_dir, host, variables):
    """A course's own variables, ``host_vars/<host>.yml`` (they come before its site's group variables)."""
    os.makedirs(os.path.join(inventory_dir, 'host_vars'), exist_ok=True)
    _write_private(os.path.join(inventory_dir, 'host_vars', host + '.yml'), variables)


def results_callback_env(results_file):
    """Environment that makes ansible-playbook write every task's result per host to ``results_file``."""
    return {'ANSIBLE_CALLBACK_PLUGINS': RESULTS_CALLBACKS, 'ANSIBLE_CALLBACKS_ENABLED': 'live_results',
            'LIVE_RESULTS_FILE': results_file}


def task_results(tasks, task_name):
    """{host: result} of one task in the results file (a role's task is named '<role> : <name>')."""
    found = [hosts for name, hosts in tasks.items() if name.split(' : ')[-1] == task_name]
    assert len(found) == 1, (task_name, sorted(tasks))
    return found[0]


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(data, handle, indent=2)  # JSON is YAML
        handle.write('\n')


def ansible_env(extra=None):
    """Environment for ansible-playbook: this checkout as cemu.moodle, no user config."""
    env = dict(os.environ)
    for name in [n for n in env if n.startswith('ANSIBLE_') or n.startswith('MOODLE_')]:
        del env[name]
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': collections_root(),
        'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true',
        'ANSIBLE_INVENTORY_ENABLED': 'auto',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_NOCOLOR': env.get('ANSIBLE_NOCOLOR', '1' if not sys.stdout.isatty() else '0'),
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_PIPELINING': 'true',    # one process per module run instead of a temp dir, a copy and a chmod
    })
    env.update(extra or {})
    return env


def playbook_command(inventory, *args, forks=None):
    command = [sys.executable, '-m', 'ansible.cli.playbook', '-i', inventory, PLAYBOOK]
    if forks:
        command += ['--forks', str(forks)]
    return command + list(args)


def run_playbook(inventory, *args, forks=None, stream=False, env=None, timeout=900):
    """Run playbooks/keep_access.yml; return (exit code, output).

    ``stream`` echoes the output while it runs (the demo), otherwise it is
    captured (tests).
    """
    command = playbook_command(inventory, *args, forks=forks)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=ansible_env(env), cwd=REPO_ROOT)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if stream:
                sys.stdout.write(line)
                sys.stdout.flush()
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, ''.join(lines)


def recap(output):
    """PLAY RECAP as {host: {ok: n, changed: n, failed: n, ...}}."""
    hosts = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith('PLAY RECAP'):
            in_recap = True
            continue
        match = RECAP_LINE.match(line.strip()) if in_recap else None
        if match:
            counts = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', match.group('counts')))
            hosts[match.group('host')] = counts
    return hosts


def report_files(report_dir, newest=True):
    """The newest (or the oldest) run report in ``report_dir``: (json path, csv path), or (None, None)."""
    found = sorted(glob.glob(os.path.join(report_dir, 'keep-access-report-*.json')))
    if not found:
        return None, None
    chosen = found[-1] if newest else found[0]
    return chosen, chosen[:-len('.json')] + '.csv'


def load_json(path):
    with open(path) as handle:
        return json.load(handle)


def load_report(report_dir):
    """The newest run report's JSON summary."""
    return load_json(report_files(report_dir)[0])
