# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The integration stage runs on pytest-xdist workers: the evidence each worker saw is printed by the controller."""

from types import SimpleNamespace

from tests.integration import conftest
from tests.integration.evidence import Recorder


def test_the_evidence_of_every_worker_reaches_the_controllers_summary(monkeypatch):
    hooks = conftest.EvidenceFromWorkers()
    outputs = []
    for name, writes in (('empty_token', 0), ('wrong_token', 2)):
        worker = Recorder()
        worker.bad_input(name, clear=True, writes=writes)
        monkeypatch.setattr(conftest, 'RECORDER', worker)
        session = SimpleNamespace(config=SimpleNamespace(workeroutput={}))
        hooks.pytest_sessionfinish(session)
        outputs.append(session.config.workeroutput)
    controller = Recorder()
    monkeypatch.setattr(conftest, 'RECORDER', controller)
    for output in outputs:
        hooks.pytest_testnodedown(SimpleNamespace(workeroutput=output), None)
    assert controller.figures()['cases tried'] == 2
    assert controller.figures()['writes after bad input'] == 2


def test_a_run_without_workers_keeps_its_own_evidence(monkeypatch):
    recorder = Recorder()
    recorder.fault('course_deleted', converged=True, users_lost=0)
    monkeypatch.setattr(conftest, 'RECORDER', recorder)
    session = SimpleNamespace(config=SimpleNamespace())
    conftest.EvidenceFromWorkers().pytest_sessionfinish(session)
    assert recorder.figures()['cases tried'] == 1 and not hasattr(session.config, 'workeroutput')
