//! The calls other than the paged walks: address check, system info, token details, permission probes and group
//! resolution, with the lenient readers of their bodies.

use reqwest::Method;
use s1_core::groups::{GroupFilter, ResolvedGroup};
use s1_core::records::{decode_groups_page, Group};
use serde::Serialize;
use time::OffsetDateTime;

use super::{policy_error, Endpoint, S1Client};
use crate::error::S1Error;
use crate::url_policy::resolve_checked;

/// What `GET system/info` says about the console, read leniently (fields vary by release).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SystemInfo {
    pub release: Option<String>,
    pub build: Option<String>,
    pub latest_agent_version: Option<String>,
}

/// What `POST users/api-token-details` says about the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenDetails {
    pub created_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
}

impl S1Client {
    /// Resolves the console host and checks its addresses (the `url_allowed` check, without a request).
    pub async fn check_addresses(&self) -> Result<(), S1Error> {
        resolve_checked(&self.inner.console, self.inner.options.resolver.as_ref())
            .await
            .map(|_| ())
            .map_err(policy_error)
    }

    /// `GET system/info`: proves the console answers and accepts the token.
    pub async fn system_info(&self) -> Result<SystemInfo, S1Error> {
        self.call(Endpoint::SystemInfo, Method::GET, &[], None, |body| {
            Ok(parse_system_info(body).unwrap_or_default())
        })
        .await
    }

    /// `POST users/api-token-details`. The endpoint's documented body is `{"data":{"apiToken":…}}`: it looks the
    /// token up by value, so this one request also carries the token in its (TLS-protected) body, to the same
    /// console that already holds it. Nothing else ever does.
    pub async fn token_details(&self) -> Result<TokenDetails, S1Error> {
        let body = serde_json::json!({ "data": { "apiToken": self.inner.token.expose() } });
        self.call(
            Endpoint::ApiTokenDetails,
            Method::POST,
            &[],
            Some(&body),
            |bytes| {
                parse_token_details(bytes).ok_or(S1Error::MalformedBody {
                    endpoint: Endpoint::ApiTokenDetails.path().to_string(),
                    offset: 0,
                })
            },
        )
        .await
    }

    /// `GET <endpoint>?limit=1`: the cheapest proof that the token holds the endpoint's view permission.
    pub(crate) async fn probe(&self, endpoint: Endpoint) -> Result<(), S1Error> {
        self.call(
            endpoint,
            Method::GET,
            &[("limit", "1".to_string())],
            None,
            |_| Ok(()),
        )
        .await
    }

    /// Resolves configured group names to ids by walking every group page (decision 3's matching is done here,
    /// not by the console's `name` filter, whose case rules are undocumented). No names: no request, empty result.
    pub async fn resolve_groups(
        &self,
        filter: &GroupFilter,
    ) -> Result<Vec<ResolvedGroup>, S1Error> {
        if filter.is_all() {
            return Ok(Vec::new());
        }
        let groups = self.all_groups().await?;
        filter
            .resolve(&groups)
            .map_err(|unknown| S1Error::UnknownGroups {
                names: unknown.names,
            })
    }

    async fn all_groups(&self) -> Result<Vec<Group>, S1Error> {
        use futures::TryStreamExt;
        let query = crate::paging::WalkParams::groups();
        let pages = crate::paging::walk(self.clone(), Endpoint::Groups, query, decode_groups_page);
        futures::pin_mut!(pages);
        let mut groups = Vec::new();
        while let Some(page) = pages.try_next().await? {
            if page.restarted {
                groups.clear();
            }
            groups.extend(page.records);
        }
        Ok(groups)
    }
}

fn parse_system_info(body: &[u8]) -> Option<SystemInfo> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?;
    let text = |keys: &[&str]| {
        keys.iter().find_map(|k| match data.get(*k) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                Some(s.trim().to_string())
            }
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    Some(SystemInfo {
        release: text(&["release", "version"]),
        build: text(&["build"]),
        latest_agent_version: text(&["latestAgentVersion"]),
    })
}

fn parse_token_details(body: &[u8]) -> Option<TokenDetails> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?;
    let at = |key: &str| {
        data.get(key).and_then(|v| v.as_str()).and_then(|s| {
            OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()
        })
    };
    Some(TokenDetails {
        created_at: at("createdAt"),
        expires_at: at("expiresAt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_details_read_rfc3339_dates() {
        let d = parse_token_details(br#"{"data":{"createdAt":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00.123456Z"}}"#);
        let d = d.unwrap_or_default();
        assert_eq!(d.expires_at.map(|t| t.year()), Some(2027));
        assert!(parse_token_details(b"[]").is_none());
    }

    #[test]
    fn system_info_is_lenient() {
        let info = parse_system_info(
            br#"{"data":{"build":"123","release":"Vega","latestAgentVersion":24}}"#,
        );
        assert_eq!(
            info,
            Some(SystemInfo {
                release: Some("Vega".into()),
                build: Some("123".into()),
                latest_agent_version: Some("24".into())
            })
        );
    }
}
