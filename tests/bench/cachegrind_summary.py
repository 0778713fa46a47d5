# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inclusive time per PHP function from an Xdebug profile (cachegrind format), for bench_real_moodle.py.

    python -m tests.bench.cachegrind_summary /tmp/xdbg/cachegrind.out.123 [--top 40] [--match enrol_user ...]

Inclusive time of a function = its own cost + the inclusive cost of every call it makes (a function
calling itself is counted once per level; none of the functions the benchmark names does). Xdebug's
overhead inflates every function call, so read the shares, not the absolute times.
"""

import argparse
import re
import sys
from collections import defaultdict

NAME = re.compile(r'^\((\d+)\)(?: (.*))?$')


def parse(path):
    """{function: [calls, inclusive, self]} in the profile's time unit, and the total."""
    names = {}
    stats = defaultdict(lambda: [0, 0, 0])
    current = None
    after_calls = False
    callee_calls = 0
    callee = None
    total = 0
    with open(path, errors='replace') as handle:
        for line in handle:
            if line[0].isdigit() or line[0] == '+' or line[0] == '-':
                cost = int(line.split()[1]) if ' ' in line else 0
                if after_calls:
                    stats[current][1] += cost
                    stats[callee][0] += callee_calls
                    after_calls = False
                elif current is not None:
                    stats[current][1] += cost
                    stats[current][2] += cost
                continue
            if line.startswith('fn='):
                current = resolve(names, line[3:].strip())
            elif line.startswith('cfn='):
                callee = resolve(names, line[4:].strip())
            elif line.startswith('calls='):
                after_calls = True
                callee_calls = int(line[6:].split()[0])
            elif line.startswith('summary:'):
                total = int(line.split()[1])
    if not total:
        total = stats.get('{main}', [0, 0, 0])[1]
    return stats, total


def resolve(names, text):
    match = NAME.match(text)
    if not match:
        return text
    number, name = match.groups()
    if name:
        names[number] = name
    return names.get(number, text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('profile')
    parser.add_argument('--top', type=int, default=40)
    parser.add_argument('--match', nargs='*', default=[], help='only functions whose name contains one of these')
    args = parser.parse_args(argv)
    stats, total = parse(args.profile)
    rows = sorted(stats.items(), key=lambda item: -item[1][1])
    if args.match:
        rows = [r for r in rows if any(m in r[0] for m in args.match)]
    print('%-80s %8s %7s %7s' % ('function', 'calls', 'incl %', 'self %'))
    for name, (calls, inclusive, own) in rows[:args.top]:
        print('%-80s %8d %6.1f%% %6.1f%%' % (name[:80], calls, 100.0 * inclusive / total, 100.0 * own / total))
    return 0


if __name__ == '__main__':
    sys.exit(main())
