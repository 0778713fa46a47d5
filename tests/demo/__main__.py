# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo: the whole keep_access job in under a minute, against the bundled Moodle SIMULATOR.

    python -m tests.demo            (or: make demo)

1. starts the simulator with the `demo` fixture (four courses: external
   database, cohort sync, mixed, and one without a manual enrolment instance);
2. builds the inventory from the simulated site with the inventory plugin
   cemu.moodle.courses, and group variables with the end date;
3. runs playbooks/keep_access.yml; then again, to show that nothing changes;
4. makes the "source" drop every student, as the external database and the
   cohort sync do on 1 September, and shows that the students keep access;
5. prints the run report (also written as JSON and CSV).

Nothing here talks to a real Moodle; the simulator stops at the end.
"""

import argparse
import datetime
import os
import secrets
import shutil
import sys
import tempfile

from tests.collection_path import REPO_ROOT, collections_root

if collections_root() not in sys.path:
    sys.path.insert(0, collections_root())

from ansible_collections.cemu.moodle.plugins.filter.keep_access_report import keep_access_report  # noqa: E402
from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient  # noqa: E402
from ansible_collections.cemu.moodle.plugins.module_utils.keepaccess import KeepAccessApi  # noqa: E402
from tests.demo import runner  # noqa: E402
from tests.simulator import Simulator  # noqa: E402

SITE_GROUP = 'demo_site'
DROPPED_COURSES = ('DB101', 'COH201', 'MIX301')
OUTPUT_DIR = os.path.join(REPO_ROOT, 'demo-output')


def say(text=''):
    print(text, flush=True)


def banner(text):
    say()
    say('=' * 78)
    say(text)
    say('=' * 78)


def end_date(today=None):
    """The end of next March: always in the future, like a real run in August."""
    today = today or datetime.date.today()
    return datetime.date(today.year + 1, 3, 31)


def write_inventory(inventory_dir, sim, token, end):
    group_vars = {
        'keep_access_end': end.isoformat(),
        'keep_access_backup_dir': os.path.join(OUTPUT_DIR, 'backups'),
        'keep_access_report_dir': os.path.join(OUTPUT_DIR, 'reports'),
    }
    runner.write_site(inventory_dir, sim.url, SITE_GROUP, token, group_vars)


def run(inventory_dir, title, *args):
    banner(title)
    code, output = runner.run_playbook(inventory_dir, *args, stream=True)
    return code, runner.recap(output)


def explain_first_run(code, recap):
    failed = sorted(h for h, counts in recap.items() if counts.get('failed'))
    changed = sorted(h for h, counts in recap.items() if counts.get('changed') and not counts.get('failed'))
    say()
    say('First run: exit code %d. Converted and dated: %s.' % (code, ', '.join(changed) or 'none'))
    if failed:
        say('Failed on purpose: %s has no manual enrolment instance; the other courses finished anyway.'
            % ', '.join(failed))
        say('(keep_access_create_manual_instance: true would add one.)')


def explain_second_run(recap):
    changed = sum(counts.get('changed', 0) for counts in recap.values())
    say()
    say('Second run: %d changes in total (%s).' % (changed, 'idempotent' if changed == 0 else 'UNEXPECTED'))
    return changed == 0


def drop_students(sim, api):
    banner('1 September: the external database and the cohort drop their users')
    for shortname in DROPPED_COURSES:
        course = api.find_course(shortname, by='shortname')
        methods = sorted(set(i['enrol'] for i in sim.course_enrolments(course['id'])['instances']
                             if i['enrol'] in ('database', 'cohort')))
        dropped = set()
        for method in methods:
            dropped.update(sim.drop_from_source(course['id'], method))
        say('%-7s the source (%s) dropped %d users' % (shortname, ' + '.join(methods), len(dropped)))


def show_access(api):
    banner('Who still has access? (read back through the web service)')
    all_kept = True
    for shortname in DROPPED_COURSES:
        course = api.find_course(shortname, by='shortname')
        enrolments = api.read_course_enrolments(course['id'])
        all_kept &= report_course_access(shortname, enrolments)
    return all_kept


def report_course_access(shortname, enrolments):
    manual_ids = set(i['id'] for i in enrolments['instances'] if i['enrol'] == 'manual')
    students = set(ra['userid'] for ra in enrolments['roleassignments'] if ra['roleshortname'] == 'student')
    by_user = {}
    for ue in enrolments['userenrolments']:
        if ue['userid'] in students:
            by_user.setdefault(ue['userid'], []).append(ue)
    kept = [ues for ues in by_user.values() if any(active_manual(ue, manual_ids) for ue in ues)]
    automatic = sum(1 for ues in by_user.values() for ue in ues if ue['enrolid'] not in manual_ids)
    sample = kept[0][0] if kept else None
    say('%-7s %2d students enrolled, %2d of them active through a manual enrolment, %d automatic enrolments left'
        % (shortname, len(by_user), len(kept), automatic))
    if sample:
        say('        e.g. %s: manual enrolment until %s' % (sample['username'], when(sample['timeend'])))
    return len(kept) > 0 and automatic == 0


def active_manual(ue, manual_ids):
    return ue['enrolid'] in manual_ids and ue['status'] == 0


def when(timestamp):
    if not timestamp:
        return 'no end'
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')


def print_report():
    banner('The run report of the first run')
    report_dir = os.path.join(OUTPUT_DIR, 'reports')
    json_path, csv_path = runner.report_files(report_dir, newest=False)
    summary = runner.load_json(json_path)
    table = keep_access_report(summary['courses'], generated_at=summary['generated_at'])['table']
    for line in table:
        say(line)
    say()
    say('Written as %s' % json_path)
    say('       and %s (both mode 0600)' % csv_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keep', action='store_true', help='keep the temporary inventory')
    args = parser.parse_args(argv)
    banner('cemu.moodle demo - runs against the bundled Moodle SIMULATOR, not a real Moodle')
    shutil.rmtree(OUTPUT_DIR, ignore_errors=True)
    token = secrets.token_hex(16)
    sim = Simulator(version='4.5', fixture='demo', token=token)
    sim.start()
    inventory_dir = tempfile.mkdtemp(prefix='cemu-moodle-demo-')
    try:
        say('Simulated Moodle 4.5 at %s; inventory in %s; output in %s' % (sim.url, inventory_dir, OUTPUT_DIR))
        end = end_date()
        write_inventory(inventory_dir, sim, token, end)
        code, recap = run(inventory_dir, 'Run 1: back up, restore as manual, set the end date %s' % end)
        explain_first_run(code, recap)
        dummy, recap = run(inventory_dir, 'Run 2: the same again - nothing left to change')
        idempotent = explain_second_run(recap)
        api = KeepAccessApi(MoodleClient(sim.url, token))
        drop_students(sim, api)
        kept = show_access(api)
        print_report()
        ok = idempotent and kept
        banner('Demo %s. (Simulator: nothing ran against a real Moodle.)' % ('finished' if ok else 'FAILED'))
        return 0 if ok else 1
    finally:
        sim.stop()
        if args.keep:
            say('Inventory kept in %s' % inventory_dir)
        else:
            shutil.rmtree(inventory_dir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
