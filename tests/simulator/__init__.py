# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated Moodle for the collection's tests and demo ONLY.

It keeps an in-memory Moodle (users, roles, categories, courses, enrol
instances, user enrolments, role assignments, cohorts, welcome messages,
tokens) and answers Moodle's REST web-service protocol over real HTTP on
127.0.0.1, including Moodle's quirks as recorded on real Moodle 4.5 and 5.1
(``../shared/moodle-ws``). It is not a way to run the modules for real and
holds no real data. See README.md in this directory.

    from tests.simulator import Simulator
    with Simulator(version='4.5', fixture='demo', token='t0k3n') as sim:
        sim.url  # http://127.0.0.1:PORT
"""

from .server import Simulator

__all__ = ['Simulator']
