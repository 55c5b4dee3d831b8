//! When a complete agent walk may retire assets. Retiring marks an asset inactive because SentinelOne no longer
//! returned its machine; a walk that was incomplete in a way the console did not signal would retire live machines.
//! So retirement happens only after a walk that can be trusted, and never for a large share of the tenant at once.

use std::fmt;

/// Agents walked fewer than the console's count by more than this share (or [`COUNT_SLACK_MIN`]) make the walk
/// untrustworthy. Some slack is needed: agents register and disappear while a walk runs.
pub const COUNT_SLACK_PERCENT: u64 = 1;
/// The smallest slack, so that small tenants are not held up by one agent that moved during the walk.
pub const COUNT_SLACK_MIN: u64 = 2;
/// Default of the largest share of the active assets one run may retire.
pub const DEFAULT_MAX_RETIRE_PERCENT: u8 = 20;

/// What the agent walk and the store say, once the walk is complete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkSummary {
    /// Agent records the walk returned (usable or not), counted since the walk's last restart.
    pub walked: u64,
    /// Agent records skipped because they had no usable identity.
    pub unusable: u64,
    /// The number of agents the console said the walk would return (`pagination.totalItems`), when it said so.
    pub expected: Option<u64>,
    /// Active assets of the tenant.
    pub active: u64,
    /// Active assets the walk did not see: what retirement would mark inactive.
    pub unseen: u64,
}

/// Why a run keeps every asset active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withheld {
    UnusableAgents {
        unusable: u64,
    },
    EmptyWalk {
        active: u64,
    },
    ShortWalk {
        walked: u64,
        expected: u64,
    },
    TooLargeShare {
        unseen: u64,
        active: u64,
        max_percent: u8,
    },
}

impl fmt::Display for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnusableAgents { unusable } => write!(
                f,
                "no asset was retired: {unusable} agent(s) SentinelOne returned had no usable identity, so their \
                 machines cannot be told apart from removed ones"
            ),
            Self::EmptyWalk { active } => write!(
                f,
                "no asset was retired: SentinelOne returned no agent while {active} asset(s) are active"
            ),
            Self::ShortWalk { walked, expected } => write!(
                f,
                "no asset was retired: SentinelOne said it has {expected} agent(s) but the walk returned {walked}"
            ),
            Self::TooLargeShare { unseen, active, max_percent } => write!(
                f,
                "no asset was retired: this run would retire {unseen} of {active} active assets, more than the \
                 {max_percent}% one run may retire; if the machines are really gone, raise \
                 SYNC_MAX_RETIRE_PERCENT for one run"
            ),
        }
    }
}

/// `Ok(())` when the run may retire `summary.unseen` assets; otherwise the first reason it may not.
pub fn may_retire(summary: &WalkSummary, max_percent: u8) -> Result<(), Withheld> {
    if summary.unseen == 0 {
        return Ok(());
    }
    if summary.unusable > 0 {
        return Err(Withheld::UnusableAgents {
            unusable: summary.unusable,
        });
    }
    if summary.walked == 0 {
        return Err(Withheld::EmptyWalk {
            active: summary.active,
        });
    }
    if let Some(expected) = summary.expected {
        let slack = (expected * COUNT_SLACK_PERCENT / 100).max(COUNT_SLACK_MIN);
        if summary.walked + slack < expected {
            return Err(Withheld::ShortWalk {
                walked: summary.walked,
                expected,
            });
        }
    }
    // unseen × 100 > active × percent, in integers: a share exactly at the limit is allowed.
    if summary.unseen * 100 > summary.active * u64::from(max_percent) {
        return Err(Withheld::TooLargeShare {
            unseen: summary.unseen,
            active: summary.active,
            max_percent,
        });
    }
    Ok(())
}

/// What a complete threat walk and the store say, before findings are closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreatWalkSummary {
    /// True only for a walk of every threat (no `updatedAt` bound): an incremental walk cannot close anything.
    pub complete: bool,
    /// Threat records the walk returned (usable or not), since its last restart.
    pub walked: u64,
    /// Threat records without an id (they cannot be told apart from deleted ones).
    pub unusable: u64,
    /// `pagination.totalItems` of the walk's first page, when the console said it.
    pub expected: Option<u64>,
    /// Stored findings that are not closed.
    pub live: u64,
    /// Of those, the ones the walk did not return: what closing would close.
    pub absent: u64,
}

/// Why a run closes no finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseWithheld {
    Incremental,
    UnusableThreats {
        unusable: u64,
    },
    EmptyWalk {
        live: u64,
    },
    ShortWalk {
        walked: u64,
        expected: u64,
    },
    TooLargeShare {
        absent: u64,
        live: u64,
        max_percent: u8,
    },
}

impl fmt::Display for CloseWithheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incremental => write!(
                f,
                "no finding was closed: this run walked only the threats changed since the last sync"
            ),
            Self::UnusableThreats { unusable } => write!(
                f,
                "no finding was closed: {unusable} threat(s) SentinelOne returned had no id, so they cannot be told \
                 apart from deleted ones"
            ),
            Self::EmptyWalk { live } => write!(
                f,
                "no finding was closed: SentinelOne returned no threat while {live} finding(s) are not closed"
            ),
            Self::ShortWalk { walked, expected } => write!(
                f,
                "no finding was closed: SentinelOne said it has {expected} threat(s) but the walk returned {walked}"
            ),
            Self::TooLargeShare { absent, live, max_percent } => write!(
                f,
                "no finding was closed: this run would close {absent} of {live} findings, more than the \
                 {max_percent}% one run may close; if the threats are really gone, raise SYNC_MAX_RETIRE_PERCENT \
                 for one run"
            ),
        }
    }
}

/// `Ok(())` when the run may close `summary.absent` findings; otherwise the first reason it may not. The same
/// guard as [`may_retire`], for threats.
pub fn may_close(summary: &ThreatWalkSummary, max_percent: u8) -> Result<(), CloseWithheld> {
    if !summary.complete {
        return Err(CloseWithheld::Incremental);
    }
    if summary.absent == 0 {
        return Ok(());
    }
    if summary.unusable > 0 {
        return Err(CloseWithheld::UnusableThreats {
            unusable: summary.unusable,
        });
    }
    if summary.walked == 0 {
        return Err(CloseWithheld::EmptyWalk { live: summary.live });
    }
    if let Some(expected) = summary.expected {
        let slack = (expected * COUNT_SLACK_PERCENT / 100).max(COUNT_SLACK_MIN);
        if summary.walked + slack < expected {
            return Err(CloseWithheld::ShortWalk {
                walked: summary.walked,
                expected,
            });
        }
    }
    if summary.absent * 100 > summary.live * u64::from(max_percent) {
        return Err(CloseWithheld::TooLargeShare {
            absent: summary.absent,
            live: summary.live,
            max_percent,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(
        walked: u64,
        unusable: u64,
        expected: Option<u64>,
        active: u64,
        unseen: u64,
    ) -> WalkSummary {
        WalkSummary {
            walked,
            unusable,
            expected,
            active,
            unseen,
        }
    }

    #[test]
    fn a_clean_complete_walk_retires_up_to_the_limit() {
        assert_eq!(may_retire(&walk(95, 0, Some(95), 100, 5), 20), Ok(()));
        assert_eq!(
            may_retire(&walk(80, 0, Some(80), 100, 20), 20),
            Ok(()),
            "exactly at the limit"
        );
        assert_eq!(
            may_retire(&walk(0, 3, None, 10, 0), 20),
            Ok(()),
            "nothing to retire is always fine"
        );
    }

    #[test]
    fn untrustworthy_walks_retire_nothing() {
        assert_eq!(
            may_retire(&walk(99, 1, Some(100), 100, 1), 20),
            Err(Withheld::UnusableAgents { unusable: 1 })
        );
        assert_eq!(
            may_retire(&walk(0, 0, Some(0), 5, 5), 20),
            Err(Withheld::EmptyWalk { active: 5 })
        );
        assert_eq!(
            may_retire(&walk(90, 0, Some(100), 100, 10), 20),
            Err(Withheld::ShortWalk {
                walked: 90,
                expected: 100
            })
        );
        assert_eq!(
            may_retire(&walk(98, 0, Some(100), 100, 2), 20),
            Ok(()),
            "within the slack"
        );
        assert_eq!(
            may_retire(&walk(79, 0, Some(79), 100, 21), 20),
            Err(Withheld::TooLargeShare {
                unseen: 21,
                active: 100,
                max_percent: 20
            })
        );
    }

    #[test]
    fn closing_needs_a_complete_trusted_walk() {
        let walk = |complete, walked, unusable, expected, live, absent| ThreatWalkSummary {
            complete,
            walked,
            unusable,
            expected,
            live,
            absent,
        };
        assert_eq!(may_close(&walk(true, 95, 0, Some(95), 100, 5), 20), Ok(()));
        assert_eq!(
            may_close(&walk(false, 95, 0, Some(95), 100, 5), 20),
            Err(CloseWithheld::Incremental),
            "an incremental walk never closes"
        );
        assert_eq!(
            may_close(&walk(true, 0, 0, Some(0), 5, 5), 20),
            Err(CloseWithheld::EmptyWalk { live: 5 })
        );
        assert_eq!(
            may_close(&walk(true, 90, 0, Some(100), 100, 10), 20),
            Err(CloseWithheld::ShortWalk {
                walked: 90,
                expected: 100
            })
        );
        assert_eq!(
            may_close(&walk(true, 99, 1, Some(100), 100, 1), 20),
            Err(CloseWithheld::UnusableThreats { unusable: 1 })
        );
        assert_eq!(
            may_close(&walk(true, 70, 0, Some(70), 100, 30), 20),
            Err(CloseWithheld::TooLargeShare {
                absent: 30,
                live: 100,
                max_percent: 20
            })
        );
        assert!(CloseWithheld::Incremental
            .to_string()
            .contains("no finding was closed"));
    }

    #[test]
    fn reasons_name_the_numbers() {
        let text = Withheld::TooLargeShare {
            unseen: 21,
            active: 100,
            max_percent: 20,
        }
        .to_string();
        assert!(text.contains("21 of 100") && text.contains("20%"), "{text}");
    }
}
