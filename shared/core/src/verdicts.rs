//! Analyst verdicts and the tenant's **verdict inclusion list**: a threat whose analyst verdict is in the list
//! becomes a *failed* finding, any other threat a *passed* one ([`finding_status`]). The default list is contract
//! decision 9 and is defined only in [`VerdictInclusionList::default`].

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::finding::FindingStatus;

wire_enum! {
    /// `threatInfo.analystVerdict`. A threat without one is treated as `Undefined` (no analyst has decided).
    AnalystVerdict {
        TruePositive => "true_positive",
        Suspicious => "suspicious",
        Undefined => "undefined",
        FalsePositive => "false_positive",
    }
}

/// The verdicts whose threats count as failed findings. Never empty; holds only known verdicts.
/// Serializes as a list of the API's spellings, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct VerdictInclusionList(BTreeSet<AnalystVerdict>);

impl Default for VerdictInclusionList {
    /// Contract decision 9: everything an analyst has not called a false positive.
    fn default() -> Self {
        Self(BTreeSet::from([
            AnalystVerdict::TruePositive,
            AnalystVerdict::Suspicious,
            AnalystVerdict::Undefined,
        ]))
    }
}

/// Why a verdict list was refused. Display is a sentence for the settings form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictListError {
    #[error("the analyst-verdict list is empty; choose at least one of: {accepted}")]
    Empty { accepted: String },
    #[error("\"{verdict}\" is not a SentinelOne analyst verdict; use one or more of: {accepted}")]
    Unknown { verdict: String, accepted: String },
}

fn accepted_list() -> String {
    AnalystVerdict::KNOWN.join(", ")
}

/// `" True Positive "`, `"true-positive"` and `"TRUE_POSITIVE"` all read as `true_positive`.
fn parse_one(input: &str) -> Result<Option<AnalystVerdict>, VerdictListError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let canonical: String = trimmed
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_lowercase();
    match AnalystVerdict::from_wire(&canonical) {
        AnalystVerdict::Other(_) => Err(VerdictListError::Unknown {
            verdict: trimmed.to_owned(),
            accepted: accepted_list(),
        }),
        known => Ok(Some(known)),
    }
}

impl VerdictInclusionList {
    /// Parses user input: comma-separated verdicts, case and whitespace tolerant, empty entries ignored. An unknown
    /// verdict is refused with the accepted list; a list with no verdict at all is refused.
    pub fn parse(input: &str) -> Result<Self, VerdictListError> {
        Self::from_entries(input.split(','))
    }

    /// The same rules for input that is already a list (JSON array from the settings API).
    pub fn from_list(items: &[String]) -> Result<Self, VerdictListError> {
        Self::from_entries(items.iter().flat_map(|i| i.split(',')))
    }

    fn from_entries<'a>(entries: impl Iterator<Item = &'a str>) -> Result<Self, VerdictListError> {
        let mut set = BTreeSet::new();
        for entry in entries {
            if let Some(v) = parse_one(entry)? {
                set.insert(v);
            }
        }
        if set.is_empty() {
            return Err(VerdictListError::Empty {
                accepted: accepted_list(),
            });
        }
        Ok(Self(set))
    }

    pub fn contains(&self, verdict: &AnalystVerdict) -> bool {
        self.0.contains(verdict)
    }

    /// The API's spellings, in a fixed order (true_positive, suspicious, undefined, false_positive).
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|v| v.as_str().to_owned()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &AnalystVerdict> {
        self.0.iter()
    }
}

impl fmt::Display for VerdictInclusionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_strings().join(","))
    }
}

impl TryFrom<Vec<String>> for VerdictInclusionList {
    type Error = VerdictListError;
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        Self::from_list(&v)
    }
}

impl From<VerdictInclusionList> for Vec<String> {
    fn from(v: VerdictInclusionList) -> Vec<String> {
        v.to_strings()
    }
}

/// **The failed/passed rule**, used at mapping time and when stored findings are re-evaluated after the tenant
/// changes the list: failed exactly when the verdict is in the list. A verdict this version does not know
/// (`Other`) can never be in the list, so it is passed.
pub fn finding_status(verdict: &AnalystVerdict, list: &VerdictInclusionList) -> FindingStatus {
    if list.contains(verdict) {
        FindingStatus::Failed
    } else {
        FindingStatus::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalystVerdict::*;

    #[test]
    fn default_is_decision_nine() {
        let d = VerdictInclusionList::default();
        assert_eq!(d.to_strings(), ["true_positive", "suspicious", "undefined"]);
        assert!(!d.contains(&FalsePositive));
    }

    #[test]
    fn parsing_table() {
        let ok: &[(&str, &[AnalystVerdict])] = &[
            ("true_positive", &[TruePositive]),
            ("TRUE_POSITIVE", &[TruePositive]),
            ("  True Positive  ", &[TruePositive]),
            ("true-positive,suspicious", &[TruePositive, Suspicious]),
            ("suspicious , undefined,", &[Suspicious, Undefined]),
            (",,false_positive,,", &[FalsePositive]),
            ("undefined,UNDEFINED, Undefined", &[Undefined]),
            (
                "true_positive,suspicious,undefined,false_positive",
                &[TruePositive, Suspicious, Undefined, FalsePositive],
            ),
        ];
        for (input, expected) in ok {
            let list = VerdictInclusionList::parse(input)
                .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            let got: Vec<_> = list.iter().cloned().collect();
            assert_eq!(&got, expected, "input {input:?}");
        }

        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            (",, ,", "empty"),
            ("true positives", "true positives"),
            ("suspicious,maybe", "maybe"),
            ("truepositive", "truepositive"),
            ("n/a", "n/a"),
            ("true_positive;suspicious", "true_positive;suspicious"),
        ];
        for (input, mentioned) in bad {
            let err = VerdictInclusionList::parse(input).expect_err(input);
            let msg = err.to_string();
            assert!(msg.contains(mentioned), "{input:?}: {msg}");
            assert!(
                msg.contains("true_positive, suspicious, undefined, false_positive"),
                "{input:?} should list the accepted verdicts: {msg}"
            );
        }
    }

    #[test]
    fn from_list_and_serde_round_trip() {
        let list =
            VerdictInclusionList::from_list(&[" Suspicious ".into(), "true_positive".into()])
                .unwrap();
        assert_eq!(list.to_strings(), ["true_positive", "suspicious"]);
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["true_positive","suspicious"]"#);
        let back: VerdictInclusionList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
        assert!(serde_json::from_str::<VerdictInclusionList>(r#"["nope"]"#).is_err());
        assert!(serde_json::from_str::<VerdictInclusionList>("[]").is_err());
        assert!(VerdictInclusionList::from_list(&[]).is_err());
    }

    #[test]
    fn status_follows_the_list() {
        let d = VerdictInclusionList::default();
        assert_eq!(finding_status(&TruePositive, &d), FindingStatus::Failed);
        assert_eq!(finding_status(&Undefined, &d), FindingStatus::Failed);
        assert_eq!(finding_status(&FalsePositive, &d), FindingStatus::Passed);
        assert_eq!(
            finding_status(&Other("new".into()), &d),
            FindingStatus::Passed
        );
        let only_tp = VerdictInclusionList::parse("true_positive").unwrap();
        assert_eq!(finding_status(&Suspicious, &only_tp), FindingStatus::Passed);
        assert_eq!(
            finding_status(&TruePositive, &only_tp),
            FindingStatus::Failed
        );
    }
}
