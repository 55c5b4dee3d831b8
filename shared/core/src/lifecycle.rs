//! A finding's lifecycle, beside its failed/passed status (which the verdict list alone decides):
//!
//! | state      | how a finding gets there                                                                   |
//! |------------|--------------------------------------------------------------------------------------------|
//! | `open`     | first seen, not resolved in SentinelOne                                                     |
//! | `resolved` | SentinelOne's `threatInfo.incidentStatus` is `resolved`                                    |
//! | `closed`   | the threat was absent from a complete walk of all threats that could be trusted            |
//! | `reopened` | a resolved finding that SentinelOne unresolved, or a closed one that came back unresolved |
//!
//! A closed finding that comes back already resolved is `resolved`. Only a complete, trusted walk closes
//! ([`crate::retirement::may_close`]); an incremental walk never does. Each change is kept in a bounded history.

use serde::{Deserialize, Serialize};

/// State changes kept per finding (the most recent).
pub const MAX_HISTORY: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    Open,
    Resolved,
    Closed,
    Reopened,
}

impl FindingState {
    pub const KNOWN: &'static [&'static str] = &["open", "resolved", "closed", "reopened"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
            Self::Reopened => "reopened",
        }
    }

    /// The API spelling, ASCII case-insensitive; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Resolved, Self::Closed, Self::Reopened]
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// One change of state: the new state and when (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub state: FindingState,
    pub at: String,
}

/// Where a finding stands in its lifecycle. Timestamps are RFC 3339 (when the sync observed the change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub state: FindingState,
    /// When the connector first stored the finding.
    pub first_seen_at: String,
    /// The last time it became resolved; kept after it reopens.
    #[serde(default)]
    pub resolved_at: Option<String>,
    /// The last time it was closed; kept after it reopens.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// The most recent [`MAX_HISTORY`] changes, oldest first; the first entry is the finding's first state.
    #[serde(default)]
    pub history: Vec<StateChange>,
}

impl Lifecycle {
    fn enter(&mut self, state: FindingState, at: &str) {
        self.state = state;
        match state {
            FindingState::Resolved => self.resolved_at = Some(at.to_string()),
            FindingState::Closed => self.closed_at = Some(at.to_string()),
            FindingState::Open | FindingState::Reopened => {}
        }
        push_bounded(
            &mut self.history,
            StateChange {
                state,
                at: at.to_string(),
            },
        );
    }
}

/// Appends a change to a history, keeping only the most recent [`MAX_HISTORY`].
pub(crate) fn push_bounded<T>(history: &mut Vec<T>, change: T) {
    history.push(change);
    if history.len() > MAX_HISTORY {
        let extra = history.len() - MAX_HISTORY;
        history.drain(..extra);
    }
}

/// The finding was returned by a walk (`resolved`: SentinelOne says its incident is resolved). Returns its
/// lifecycle and the state it entered, when it changed (`None` for an unchanged state).
pub fn observe(
    prev: Option<&Lifecycle>,
    resolved: bool,
    at: &str,
) -> (Lifecycle, Option<FindingState>) {
    let Some(prev) = prev else {
        let state = if resolved {
            FindingState::Resolved
        } else {
            FindingState::Open
        };
        let mut l = Lifecycle {
            state,
            first_seen_at: at.to_string(),
            resolved_at: None,
            closed_at: None,
            history: Vec::new(),
        };
        l.enter(state, at);
        return (l, Some(state));
    };
    let next = match (prev.state, resolved) {
        (_, true) => FindingState::Resolved,
        (FindingState::Open, false) => FindingState::Open,
        (FindingState::Reopened, false)
        | (FindingState::Resolved, false)
        | (FindingState::Closed, false) => FindingState::Reopened,
    };
    let mut l = prev.clone();
    if next == prev.state {
        return (l, None);
    }
    l.enter(next, at);
    (l, Some(next))
}

/// The finding was absent from a complete, trusted walk of all threats: it closes (`None` when already closed).
pub fn close(prev: &Lifecycle, at: &str) -> Option<Lifecycle> {
    if prev.state == FindingState::Closed {
        return None;
    }
    let mut l = prev.clone();
    l.enter(FindingState::Closed, at);
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_cycle() {
        let (l, t) = observe(None, false, "t1");
        assert_eq!((l.state, t), (FindingState::Open, Some(FindingState::Open)));
        assert_eq!(l.first_seen_at, "t1");
        let (l, t) = observe(Some(&l), false, "t2");
        assert_eq!((l.state, t), (FindingState::Open, None));
        let (l, t) = observe(Some(&l), true, "t3");
        assert_eq!(t, Some(FindingState::Resolved));
        assert_eq!(l.resolved_at.as_deref(), Some("t3"));
        let l = close(&l, "t4").unwrap();
        assert_eq!(l.state, FindingState::Closed);
        assert_eq!(l.closed_at.as_deref(), Some("t4"));
        assert_eq!(close(&l, "t5"), None, "closing twice changes nothing");
        let (l, t) = observe(Some(&l), false, "t6");
        assert_eq!(t, Some(FindingState::Reopened));
        assert_eq!(l.first_seen_at, "t1");
        assert_eq!(l.resolved_at.as_deref(), Some("t3"), "kept after reopening");
        let states: Vec<_> = l.history.iter().map(|h| h.state).collect();
        assert_eq!(
            states,
            [
                FindingState::Open,
                FindingState::Resolved,
                FindingState::Closed,
                FindingState::Reopened
            ]
        );
    }

    #[test]
    fn a_closed_finding_that_returns_resolved_is_resolved_and_unresolving_reopens() {
        let (l, _) = observe(None, true, "t1");
        assert_eq!(l.state, FindingState::Resolved);
        let l = close(&l, "t2").unwrap();
        let (l, t) = observe(Some(&l), true, "t3");
        assert_eq!(t, Some(FindingState::Resolved));
        let (_, t) = observe(Some(&l), false, "t4");
        assert_eq!(t, Some(FindingState::Reopened));
    }

    #[test]
    fn history_is_bounded_to_the_most_recent_changes() {
        let (mut l, _) = observe(None, false, "0");
        for i in 1..100 {
            l = observe(Some(&l), i % 2 == 1, &i.to_string()).0;
        }
        assert_eq!(l.history.len(), MAX_HISTORY);
        assert_eq!(l.history.last().unwrap().at, "99");
        assert_eq!(l.first_seen_at, "0");
    }

    #[test]
    fn states_parse_in_any_case() {
        assert_eq!(FindingState::parse(" Closed "), Some(FindingState::Closed));
        assert_eq!(FindingState::parse("gone"), None);
    }
}
