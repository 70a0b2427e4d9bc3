//! The session token a page hands to the reception card agent (issue 11,
//! finding 8): signed with the key Escale shares with the agent, bound to
//! the session, and short-lived. The agent reads the card only for it.

use chrono::{Duration, Utc};

use super::{AppState, Ctx};

/// A token outlives neither its session nor this (a page left open longer
/// is reloaded: the agent's refusal says so).
const LIFETIME: Duration = Duration::hours(2);

/// `None` when no key is configured: the page then offers no card reading.
pub fn token(st: &AppState, ctx: &Ctx) -> Option<String> {
    let key = st.card_agent.as_ref()?;
    let until = ctx.session.expires_at.min(Utc::now() + LIFETIME);
    Some(key.issue(ctx.session.token_hash.as_bytes(), until.timestamp()))
}
