//! The agents a run did not onboard, with the asset each may be under another name.

use serde::Serialize;

use connector_store::{PossibleMatch, UnmatchedAgent};

/// A page of the agents a run did not onboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedPage {
    pub items: Vec<UnmatchedAgentView>,
    pub next_page_token: Option<String>,
}

/// An agent a run did not onboard, why, and the asset it may be under another name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedAgentView {
    pub name: String,
    pub agent_id: Option<String>,
    pub last_active: Option<String>,
    pub reason: String,
    pub possible_match: Option<PossibleMatchView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PossibleMatchView {
    pub asset_key: String,
    pub name: String,
    /// `serial_number` or `mac_address`.
    pub matched_by: String,
}

impl From<UnmatchedAgent> for UnmatchedAgentView {
    fn from(a: UnmatchedAgent) -> Self {
        let UnmatchedAgent {
            name,
            agent_id,
            last_active,
            reason,
            possible_match,
        } = a;
        Self {
            name,
            agent_id,
            last_active,
            reason,
            possible_match: possible_match.map(
                |PossibleMatch {
                     asset_key,
                     name,
                     matched_by,
                 }| PossibleMatchView {
                    asset_key,
                    name,
                    matched_by,
                },
            ),
        }
    }
}
