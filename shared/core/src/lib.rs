//! The connector's rules, pure: SentinelOne records as they arrive, how agents become assets and threats become
//! EDR findings, the merge decisions against what the platform already holds, and tags to custom fields.
//! Nothing here does I/O, so every rule can be tested and benchmarked on its own.
//!
//! Where each rule lives:
//! - [`records`]: the SentinelOne payloads (agents, threats, groups, tags, risk rows) and page decoding.
//! - [`asset`]: the asset identity rule ([`asset::normalize_computer_name`]) and the mapped [`asset::Asset`].
//! - [`finding`]: the mapped EDR [`finding::Finding`] and its severity table.
//! - [`vulnerability`]: an application-risk row as a vulnerability finding, its severity and what a scan moves.
//! - [`verdicts`]: the analyst-verdict inclusion list and the failed/passed rule.
//! - [`groups`]: the group-name filter and its resolution to group ids.
//! - [`mapping`]: agents to assets, threats to findings, de-duplication within a run.
//! - [`merge`]: what to do with one mapped asset or finding given what the platform already holds.
//! - [`custom_fields`]: tenant custom fields filled from SentinelOne tags.
//! - [`retirement`]: when a complete agent walk may mark assets inactive, and when a complete threat walk may
//!   close findings.
//! - [`registry`]: assets the platform registers itself (import rows, single registrations) and their checks.
//! - [`lifecycle`]: a finding's state (open, resolved, closed, reopened) and its bounded history.
//! - [`hash`]: content hashes for change detection.
//! - [`links`]: console deep links.
//! - [`secret`]: the API token type that cannot leak through logs or JSON.
//! - [`tenant`]: the tenant id every key, log line and request is bound to.
//! - [`input`]: field errors and the length limits request parameters are held to.

/// Declares a SentinelOne string enum that keeps values it does not know as `Other(String)`, because
/// SentinelOne keeps adding values and a new one must never fail a record.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, kept verbatim (trimmed).
            Other(String),
        }

        impl $name {
            /// Every value this version knows, in the API's spelling.
            pub const KNOWN: &'static [&'static str] = &[$($wire),+];

            /// The API's spelling of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(s) => s,
                }
            }

            /// Reads the API's spelling; trimmed and ASCII case-insensitive. Never fails: unknown values become
            /// `Other`.
            pub fn from_wire(s: &str) -> Self {
                let t = s.trim();
                $( if t.eq_ignore_ascii_case($wire) { return Self::$variant; } )+
                Self::Other(t.to_owned())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Ok(Self::from_wire(&s))
            }
        }

        impl $crate::records::lenient::WireEnum for $name {
            fn from_wire(s: &str) -> Self {
                $name::from_wire(s)
            }
            fn is_other(&self) -> bool {
                matches!(self, Self::Other(_))
            }
        }
    };
}

pub mod asset;
pub mod custom_fields;
pub mod finding;
pub mod groups;
pub mod hash;
pub mod input;
pub mod lifecycle;
pub mod links;
pub mod mapping;
pub mod merge;
pub mod records;
pub mod registry;
pub mod retirement;
pub mod secret;
pub mod tenant;
pub mod verdicts;
pub mod vulnerability;

pub use asset::{normalize_computer_name, usable_computer_name, Asset, AssetKey, AssetSource};
pub use finding::{Finding, FindingStatus, Severity};
pub use hash::ContentHash;
pub use input::{FieldError, LengthLimit};
pub use mapping::MappingSettings;
pub use merge::AssetDecision;
pub use records::{DecodedPage, MalformedPage, SkipReason, SkippedRecord};
pub use secret::{ApiToken, TokenError};
pub use tenant::{InvalidTenantId, TenantId};
pub use verdicts::{AnalystVerdict, VerdictInclusionList};
