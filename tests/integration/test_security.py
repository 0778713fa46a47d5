# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token never shows, and what the collection writes is private.

- ``playbooks/keep_access.yml`` at ``-vvvv --diff`` over a simulated site (one
  course fails on purpose, so a failure message reaches the report): the token
  is not in the output, the backups, the restore records or the run report;
  backups, records and reports are 0600 in 0700 directories.
- The modules at ``-vvvv`` failing in the ways that carry most context (wrong
  token, Moodle answering HTTP 500, timeout, a server that is not Moodle):
  neither the right nor the wrong token is in the output.
- The client's exceptions, with their whole chain and traceback, never hold
  the token.
"""

import os
import stat
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient, MoodleError
from tests.demo import runner
from tests.integration.evidence import (PRIVATE_DIR, PRIVATE_FILE, backup_files, backup_problems, files_containing,
                                        module_task, run_play)
from tests.simulator import Simulator

TOKEN = 'SECRETtoken4f1d9c3b7a2e8f6051c4d7e9a3b2f1c0'
WRONG_TOKEN = 'WRONGtoken9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b'
END = '2099-06-30'


class NotMoodle(BaseHTTPRequestHandler):
    def _answer(self):
        body = b'<html><body><h1>It works!</h1></body></html>'
        self.send_response(200)
        self.send_header('Content-Type', 'text/html')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def not_moodle():
    server = ThreadingHTTPServer(('127.0.0.1', 0), NotMoodle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def playbook_run(tmp_path_factory):
    """keep_access.yml at -vvvv --diff over the demo fixture."""
    root = str(tmp_path_factory.mktemp('security'))
    sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    try:
        inventory = os.path.join(root, 'inventory')
        runner.write_site(inventory, sim.url, 'site', TOKEN, {
            'keep_access_end': END, 'keep_access_backup_dir': os.path.join(root, 'out', 'backups'),
            'keep_access_report_dir': os.path.join(root, 'out', 'reports')})
        code, output = runner.run_playbook(inventory, '-vvvv', '--diff', timeout=600)
        yield {'code': code, 'output': output, 'out': os.path.join(root, 'out'), 'recap': runner.recap(output)}
    finally:
        sim.stop()


@pytest.fixture(scope='module')
def failing_modules_run(tmp_path_factory, not_moodle):
    """The modules at -vvvv: wrong token, HTTP 500, timeout, not Moodle, bad end date."""
    root = str(tmp_path_factory.mktemp('security_modules'))
    sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    slow_sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    backups = os.path.join(root, 'backups')
    right = {'moodle_url': sim.url, 'moodle_token': TOKEN}
    try:
        sim.fault('http500', function='local_keepaccess_get_course_enrolments', count=1)
        slow_sim.fault('slow', seconds=4, count=1)
        tasks = [
            module_task('http500', 'moodle_backup_enrolments', right, course='DB101', backup_dir=backups),
            module_task('wrong_token', 'moodle_backup_enrolments', dict(right, moodle_token=WRONG_TOKEN),
                        course='DB101', backup_dir=backups),
            module_task('not_moodle', 'moodle_backup_enrolments', dict(right, moodle_url=not_moodle),
                        course='DB101', backup_dir=backups),
            module_task('bad_end', 'moodle_set_enrol_end', right, course='DB101', end='tomorrow-ish'),
            module_task('timeout', 'moodle_set_enrol_end', dict(right, moodle_url=slow_sim.url, timeout=1),
                        course='DB101', end=END),
        ]
        play = run_play(tasks, workdir=os.path.join(root, 'play'), args=['-vvvv'])
        yield {'play': play, 'backups': backups}
    finally:
        sim.stop()
        slow_sim.stop()


def test_token_not_in_playbook_output_at_vvvv(playbook_run, evidence):
    output = playbook_run['output']
    leaks = [t for t in (TOKEN,) if t in output]
    evidence.security('token not in keep_access.yml -vvvv --diff output', leaks)
    assert playbook_run['recap'], 'the playbook did not run: %s' % output[-3000:]
    assert 'student0001' in output, 'the diff was not shown: the check would prove nothing'
    assert leaks == []


def test_token_not_in_backups_records_or_reports(playbook_run, evidence):
    out = playbook_run['out']
    leaks = files_containing(out, TOKEN)
    evidence.security('token not in backups, restore records, reports', leaks)
    assert backup_files(os.path.join(out, 'backups')), 'no backup was written: the check would prove nothing'
    assert os.listdir(os.path.join(out, 'reports')), 'no report was written: the check would prove nothing'
    assert leaks == []


def test_backups_records_and_reports_are_private(playbook_run, evidence):
    out = playbook_run['out']
    problems = backup_problems(os.path.join(out, 'backups'))
    problems += private_problems(os.path.join(out, 'reports'))
    evidence.security('backups, records, reports 0600 in 0700 directories', problems)
    assert any(os.sep + 'restores' + os.sep in p for p in all_files(os.path.join(out, 'backups'))), \
        'no restore record was written: the check would prove nothing'
    assert problems == []


def all_files(root):
    return [os.path.join(d, n) for d, _dirs, files in os.walk(root) for n in files]


def private_problems(root):
    problems = []
    for directory, _dirs, files in os.walk(root):
        mode = stat.S_IMODE(os.stat(directory).st_mode)
        if mode != PRIVATE_DIR:
            problems.append('directory %s has mode %o' % (directory, mode))
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode)
            if mode != PRIVATE_FILE:
                problems.append('file %s has mode %o' % (os.path.join(directory, name), mode))
    return problems


def test_token_not_in_failing_module_output_at_vvvv(failing_modules_run, evidence):
    play = failing_modules_run['play']
    leaks = [t for t in (TOKEN, WRONG_TOKEN) if t in play.output or t in str(play.results)]
    evidence.security('token not in failing modules -vvvv output', leaks)
    failed = sorted(name for name, result in play.results.items() if result.get('failed'))
    assert failed == ['bad_end', 'http500', 'not_moodle', 'timeout', 'wrong_token'], play.results
    assert leaks == []


def client_errors(sim, not_moodle_url, closed_port_url):
    """MoodleErrors of every kind the client raises, each made by a real request."""
    errors = {}
    cases = {
        'invalid token': lambda: MoodleClient(sim.url, WRONG_TOKEN, backoff=0.01).site_info(),
        'http 500': lambda: (sim.fault('http500'), MoodleClient(sim.url, TOKEN, backoff=0.01).site_info()),
        'timeout': lambda: (sim.fault('slow', seconds=2), MoodleClient(sim.url, TOKEN, timeout=1).site_info()),
        'connection refused': lambda: MoodleClient(closed_port_url, TOKEN, retries=1, backoff=0.01).site_info(),
        'not moodle': lambda: MoodleClient(not_moodle_url, TOKEN, backoff=0.01).site_info(),
        'unknown function': lambda: MoodleClient(sim.url, TOKEN).call('core_user_delete_users', {'userids': [3]}),
        'bad parameter': lambda: MoodleClient(sim.url, TOKEN).call(
            'local_keepaccess_get_course_enrolments', {'courseid': 'x'}),
    }
    for name, make in cases.items():
        try:
            make()
        except MoodleError as err:
            errors[name] = err
    return errors


def exception_texts(err):
    """Everything a log or a crash could show of an exception: str, repr, args, attributes, traceback."""
    texts = [str(err), repr(err), repr(err.args), repr(vars(err))]
    texts.extend(traceback.format_exception(type(err), err, err.__traceback__))
    return '\n'.join(texts)


def test_token_not_in_exception_texts(not_moodle, evidence):
    from tests.unit.http_fixtures import unused_port
    sim = Simulator(version='4.5', fixture='demo', token=TOKEN).start()
    try:
        errors = client_errors(sim, not_moodle, 'http://127.0.0.1:%d' % unused_port())
    finally:
        sim.stop()
    leaks = sorted(name for name, err in errors.items() if TOKEN in exception_texts(err)
                   or WRONG_TOKEN in exception_texts(err))
    evidence.security('token not in exception texts', leaks)
    assert len(errors) == 7, 'some request did not fail: %s' % sorted(errors)
    assert leaks == []
