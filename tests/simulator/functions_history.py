# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""local_keepaccess's history and course claims: classes/local/history.php, classes/local/course_guard.php
and the functions get_course_history, claim_course and release_course.

The simulator runs one call at a time, so the course's Moodle lock (lock API) is always free here:
what the claim adds, and what these functions follow, is the lease row checked inside every write.
"""

from __future__ import annotations

import time

from .protocol import DEFAULT, Value
from .registry import PLUGIN_VERSION, ws_function

COMPONENT = 'local_keepaccess'
MAX_SECONDS = 86400          # course_guard::MAX_SECONDS
MAX_RUNID = 64               # course_guard::MAX_RUNID
DEFAULT_RETENTION = 94608000  # history::DEFAULT_RETENTION (three years)
HISTORY_FIELDS = ('id', 'courseid', 'userid', 'runid', 'step', 'hadbefore', 'statusbefore', 'timestartbefore',
                  'timeendbefore', 'hasafter', 'statusafter', 'timestartafter', 'timeendafter', 'rolesbefore',
                  'rolesafter', 'timecreated')


def _plugin_error(code, a):
    from .functions_keepaccess import plugin_error      # pylint: disable=import-outside-toplevel
    return plugin_error(code, a)


def _require_course(ctx, courseid):
    from .functions_keepaccess import require_course    # pylint: disable=import-outside-toplevel
    return require_course(ctx, courseid)


# ----- history (classes/local/history.php) ------------------------------------------------------------
def enrolment_state(ue):
    """history::enrolment_state(): (present, status, timestart, timeend) of a manual enrolment or None."""
    if ue is None:
        return (0, 0, 0, 0)
    return (1, ue['status'], ue['timestart'], ue['timeend'])


def record(state, courseid, userid, run, before, after, rolesbefore, rolesafter):
    """history::record(): one row unless nothing changed; undone with the call's transaction."""
    rolesbefore, rolesafter = sorted(rolesbefore), sorted(rolesafter)
    if before == after and rolesbefore == rolesafter:
        return False
    state.insert('keepaccess_history', {
        'courseid': courseid, 'userid': userid, 'runid': run['runid'], 'step': run['step'],
        'hadbefore': before[0], 'statusbefore': before[1], 'timestartbefore': before[2], 'timeendbefore': before[3],
        'hasafter': after[0], 'statusafter': after[1], 'timestartafter': after[2], 'timeendafter': after[3],
        'rolesbefore': ','.join(map(str, rolesbefore)), 'rolesafter': ','.join(map(str, rolesafter)),
        'timecreated': state.now()})
    return True


def manual_roles(state, courseid, userid):
    """Role ids of the user's manual (component '', itemid 0) assignments in the course."""
    return [ra['roleid'] for ra in state.role_assignments(courseid, userid) if ra['component'] == '' and not ra['itemid']]


def purge_history(state, retention):
    """history::purge(): records of deleted courses, and older than the retention (0 = kept for ever)."""
    cutoff = state.now() - retention if retention > 0 else None
    doomed = [row['id'] for row in state.tables['keepaccess_history'].values()
              if state.course(row['courseid']) is None or (cutoff is not None and row['timecreated'] < cutoff)]
    for recid in doomed:
        state.delete('keepaccess_history', recid)
    return len(doomed)


def purge_expired_leases(state):
    """course_guard::purge_expired()."""
    now = state.now()
    doomed = [lease['id'] for lease in state.tables['keepaccess_lease'].values() if lease['timeexpires'] <= now]
    for recid in doomed:
        state.delete('keepaccess_lease', recid)
    return len(doomed)


# ----- course claims (classes/local/course_guard.php) -----------------------------------------------
def require_valid_runid(runid, courseid):
    """course_guard::require_valid_runid()."""
    if len(runid) > MAX_RUNID:
        raise _plugin_error('invalidrunid', {'courseid': courseid, 'max': MAX_RUNID})


def lease_of(state, courseid):
    """The course's lease row (ended or not), or None."""
    for lease in state.tables['keepaccess_lease'].values():
        if lease['courseid'] == courseid:
            return lease
    return None


def active_lease(state, courseid, now):
    """course_guard::active_lease()."""
    lease = lease_of(state, courseid)
    return lease if lease is not None and lease['timeexpires'] > now else None


def require_not_held_by_other(state, courseid, runid, now):
    """courseclaimed when another run holds an unexpired claim."""
    lease = active_lease(state, courseid, now)
    if lease is not None and lease['runid'] != runid:
        until = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(lease['timeexpires'])) + ' UTC'
        raise _plugin_error('courseclaimed', {'courseid': courseid, 'runid': lease['runid'], 'until': until})


def require_writable(state, courseid, runid):
    """course_guard::require_writable(): checked by every write, under the course's lock."""
    now = state.now()
    require_not_held_by_other(state, courseid, runid, now)
    if runid and active_lease(state, courseid, now) is None:
        raise _plugin_error('claimrequired', {'courseid': courseid, 'runid': runid})


def claim(state, courseid, runid, seconds):
    """course_guard::claim()."""
    if not runid or seconds < 1 or seconds > MAX_SECONDS:
        raise _plugin_error('invalidclaim', {'courseid': courseid, 'max': MAX_SECONDS})
    now = state.now()
    require_not_held_by_other(state, courseid, runid, now)
    lease = lease_of(state, courseid)
    renewed = lease is not None and lease['runid'] == runid and lease['timeexpires'] > now
    values = {'courseid': courseid, 'runid': runid, 'timeexpires': now + seconds, 'timecreated': now}
    if lease is not None:
        state.update('keepaccess_lease', lease['id'], **values)
    else:
        state.insert('keepaccess_lease', values)
    return {'courseid': courseid, 'runid': runid, 'timeexpires': values['timeexpires'], 'renewed': int(renewed)}


def release(state, courseid, runid):
    """course_guard::release()."""
    lease = lease_of(state, courseid)
    if lease is None or lease['runid'] != runid:
        return False
    state.delete('keepaccess_lease', lease['id'])
    return True


# ----- the web-service functions ------------------------------------------------------------------
@ws_function('local_keepaccess_claim_course',
             {'courseid': Value('int'), 'runid': Value('alphanumext'), 'seconds': Value('int', DEFAULT, 600)},
             component=COMPONENT)
def claim_course(ctx, courseid, runid, seconds):
    """Claim a course for a run, or renew the run's claim."""
    _require_course(ctx, courseid)
    ctx.require_capability('enrol/manual:enrol')
    require_valid_runid(runid, courseid)
    return claim(ctx.state, courseid, runid, seconds)


@ws_function('local_keepaccess_release_course', {'courseid': Value('int'), 'runid': Value('alphanumext')},
             component=COMPONENT)
def release_course(ctx, courseid, runid):
    """End a run's claim on a course."""
    _require_course(ctx, courseid)
    ctx.require_capability('enrol/manual:enrol')
    return {'courseid': courseid, 'released': int(release(ctx.state, courseid, runid))}


@ws_function('local_keepaccess_get_course_history',
             {'courseid': Value('int'), 'fromid': Value('int', DEFAULT, 0), 'maxrecords': Value('int', DEFAULT, 0)},
             component=COMPONENT)
def get_course_history(ctx, courseid, fromid, maxrecords):
    """One page of a course's history, oldest first."""
    if fromid < 0 or maxrecords < 0:
        raise _plugin_error('invalidhistorypaging', {'courseid': courseid, 'fromid': fromid, 'maxrecords': maxrecords})
    _require_course(ctx, courseid)
    ctx.require_capability('moodle/course:enrolreview')
    rows = sorted((row for row in ctx.state.tables['keepaccess_history'].values()
                   if row['courseid'] == courseid and row['id'] > fromid), key=lambda row: row['id'])
    if maxrecords:
        rows = rows[:maxrecords]
    full = bool(maxrecords) and len(rows) == maxrecords
    return {'records': [{field: row[field] for field in HISTORY_FIELDS} for row in rows],
            'nextfromid': rows[-1]['id'] if full else 0}


@ws_function('local_keepaccess_get_site_settings', {}, component=COMPONENT)
def get_site_settings(ctx):
    """The plugin version, server time zone and clock, history retention."""
    ctx.require_capability('moodle/course:enrolreview')
    return {'pluginversion': PLUGIN_VERSION, 'timezone': ctx.state.site['timezone'], 'servertime': ctx.state.now(),
            'historyretention': int(ctx.state.site.get('historyretention', DEFAULT_RETENTION))}
