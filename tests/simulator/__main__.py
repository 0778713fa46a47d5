# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the Moodle simulator (tests and demo only) until interrupted.

python -m tests.simulator --port 8765 --fixture demo --version 4.5 --token TOKEN
Prints the site URL on the first line of stdout once it accepts requests.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .fixtures import FIXTURES
from .registry import SITE_VERSIONS
from .server import Simulator


def parse_args(argv):
    """Command-line options."""
    parser = argparse.ArgumentParser(prog='python -m tests.simulator',
                                     description='Simulated Moodle for tests and the demo (not a real Moodle).')
    parser.add_argument('--port', type=int, default=0, help='port on 127.0.0.1 (0: any free port)')
    parser.add_argument('--fixture', choices=sorted(FIXTURES), default='demo')
    parser.add_argument('--version', choices=sorted(SITE_VERSIONS), default='4.5')
    parser.add_argument('--token', help='the web-service token to accept (default: random, not printed)')
    parser.add_argument('--service-token', help="also accept this token of the least-privilege keep_access service "
                                                "user (as made by local_keepaccess's create_service_user.php)")
    parser.add_argument('--max-input-vars', type=int, default=5000, help="PHP's max_input_vars")
    parser.add_argument('--courses', type=int, help='bench: number of ordinary courses')
    parser.add_argument('--students', type=int, help='bench: students per ordinary course')
    parser.add_argument('--big', type=int, help='bench: enrolments of the BENCH-BIG course (0: none)')
    return parser.parse_args(argv)


def main(argv=None):
    """Start the simulator, print its URL, serve until SIGINT/SIGTERM."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = {k: v for k, v in (('courses', args.courses), ('students', args.students), ('big', args.big))
               if v is not None}
    if options and args.fixture != 'bench':
        sys.exit('--courses/--students/--big only apply to --fixture bench')
    simulator = Simulator(version=args.version, fixture=args.fixture, token=args.token, port=args.port,
                          max_input_vars=args.max_input_vars, **options)
    if args.service_token:
        simulator.add_service_token(args.service_token)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    simulator.start()
    sys.stdout.write(simulator.url + '\n')
    sys.stdout.flush()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    simulator.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
