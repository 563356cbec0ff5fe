//! Ending grants and the sessions resting on them, as parts of commands: an approval revoked or
//! cancelled, or a break-glass closed, revokes every live session it lists (`GrantUsed`) in the
//! same write; a session revoked ends the grant it rested on and revokes its sibling sessions.
//! The rules are the ledger's (`ledger::decide::grant`); this module only says which streams a
//! command reads and adds the decided events to its plan.

use chrono::{DateTime, Utc};
use ledger::command::{Plan, Snapshot};
use ledger::decide::grant::{revoke_live, sessions_resting_on};
use ledger::decide::session::SessionState;
use ledger::event::SessionRevoked;
use ledger::{SessionId, StreamKey};

/// The session streams a grant's stream lists, once the grant's stream has been read.
pub fn resting_reads(read: &Snapshot, grant: &StreamKey) -> Vec<StreamKey> {
    if !read.has(grant) {
        return Vec::new();
    }
    sessions_resting_on(&read.stream(grant).events).into_iter().map(StreamKey::Session).collect()
}

/// Adds to `plan` the revocation of every live session resting on `grant` (but `except`, which
/// the command revokes itself), and answers which it revoked.
pub fn revoke_resting<T>(
    plan: Plan<T>,
    read: &Snapshot,
    grant: &StreamKey,
    except: Option<SessionId>,
    revoked: &SessionRevoked,
    now: DateTime<Utc>,
) -> (Plan<T>, Vec<SessionId>) {
    let states: Vec<(SessionId, SessionState)> = sessions_resting_on(&read.stream(grant).events)
        .into_iter()
        .filter(|id| Some(*id) != except)
        .map(|id| (id, read.fold::<SessionState>(&StreamKey::Session(id))))
        .collect();
    let mut plan = plan;
    let mut ended = Vec::new();
    for (id, events) in revoke_live(states.iter().map(|(id, s)| (*id, s)), revoked, now) {
        plan = plan.append(StreamKey::Session(id), events);
        ended.push(id);
    }
    (plan, ended)
}
