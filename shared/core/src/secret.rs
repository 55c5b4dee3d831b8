//! The SentinelOne API token. It can be read only through [`ApiToken::expose`], prints as `[redacted]`, and does
//! not implement `Serialize`, so it cannot reach a log line or a JSON item by accident.

use std::fmt;

use serde::Deserialize;

/// A plausible SentinelOne API token (service-user JWTs start `eyJ`; older user tokens are 80 alphanumerics).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ApiToken(String);

/// Why a token was refused. Display never includes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the API token is empty; paste the token generated for the SentinelOne service user")]
    Empty,
    #[error("the API token is too short ({len} characters); paste the whole token, which is at least {min} characters")]
    TooShort { len: usize, min: usize },
    #[error("the API token is too long ({len} characters, at most {max}); check that only the token was pasted")]
    TooLong { len: usize, max: usize },
    #[error(
        "the API token contains whitespace; paste the token alone, without line breaks or spaces"
    )]
    ContainsWhitespace,
    #[error("the API token contains a character that is not printable ASCII (at position {position}); paste the token again")]
    InvalidCharacter { position: usize },
}

impl ApiToken {
    pub const MIN_LEN: usize = 20;
    pub const MAX_LEN: usize = 4096;

    /// Trims surrounding whitespace, then requires 20..=4096 printable ASCII characters with no whitespace.
    pub fn new(raw: String) -> Result<Self, TokenError> {
        let token = raw.trim();
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        if token.chars().any(char::is_whitespace) {
            return Err(TokenError::ContainsWhitespace);
        }
        if let Some(position) = token.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(TokenError::InvalidCharacter { position });
        }
        let len = token.len();
        if len < Self::MIN_LEN {
            return Err(TokenError::TooShort {
                len,
                min: Self::MIN_LEN,
            });
        }
        if len > Self::MAX_LEN {
            return Err(TokenError::TooLong {
                len,
                max: Self::MAX_LEN,
            });
        }
        let token = if token.len() == raw.len() {
            raw
        } else {
            token.to_owned()
        };
        Ok(Self(token))
    }

    /// The token itself, for the `Authorization: ApiToken <token>` header and the vault. The only way out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ApiToken {
    type Error = TokenError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT_LIKE: &str = "eyJraWQiOiJ0ZXN0IiwiYWxnIjoiSFMyNTYifQ.eyJzdWIiOiJzdmMifQ.c2lnbmF0dXJl";

    #[test]
    fn accepts_and_trims_plausible_tokens() {
        let t = ApiToken::new(format!("  {JWT_LIKE}\n")).unwrap();
        assert_eq!(t.expose(), JWT_LIKE);
        let legacy = "a".repeat(80);
        assert_eq!(ApiToken::new(legacy.clone()).unwrap().expose(), legacy);
        assert!(ApiToken::new("x".repeat(4096)).is_ok());
    }

    #[test]
    fn refuses_implausible_tokens() {
        assert_eq!(ApiToken::new("   ".into()), Err(TokenError::Empty));
        assert_eq!(
            ApiToken::new("short".into()),
            Err(TokenError::TooShort { len: 5, min: 20 })
        );
        assert!(matches!(
            ApiToken::new("x".repeat(4097)),
            Err(TokenError::TooLong { len: 4097, .. })
        ));
        assert_eq!(
            ApiToken::new(format!("{JWT_LIKE} {JWT_LIKE}")),
            Err(TokenError::ContainsWhitespace)
        );
        assert_eq!(
            ApiToken::new(format!("{JWT_LIKE}\u{e9}")),
            Err(TokenError::InvalidCharacter {
                position: JWT_LIKE.len()
            })
        );
    }

    #[test]
    fn never_prints_the_token() {
        let t = ApiToken::new(JWT_LIKE.into()).unwrap();
        assert_eq!(format!("{t}"), "[redacted]");
        assert_eq!(format!("{t:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&t)), "Some([redacted])");
        let err = ApiToken::new(format!("{JWT_LIKE} tail")).unwrap_err();
        assert!(!err.to_string().contains("eyJ"));
    }

    #[test]
    fn deserializes_through_validation() {
        let t: ApiToken = serde_json::from_str(&format!("\" {JWT_LIKE} \"")).unwrap();
        assert_eq!(t.expose(), JWT_LIKE);
        assert!(serde_json::from_str::<ApiToken>("\"short\"").is_err());
    }
}

/// Days before the token's expiry from which every run carries a warning.
pub const TOKEN_EXPIRY_WARNING_DAYS: i64 = 14;

/// What a run makes of the API token's expiry (`POST users/api-token-details`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenExpiry {
    /// More than [`TOKEN_EXPIRY_WARNING_DAYS`] left.
    Valid,
    /// Within [`TOKEN_EXPIRY_WARNING_DAYS`]: the run carries a warning.
    ExpiresSoon { days_left: i64, on: time::Date },
    /// Past: the run fails before it fetches anything.
    Expired { on: time::Date },
}

impl TokenExpiry {
    pub fn of(expires_at: time::OffsetDateTime, now: time::OffsetDateTime) -> Self {
        let on = expires_at.date();
        if expires_at <= now {
            return Self::Expired { on };
        }
        let days_left = (expires_at - now).whole_days();
        if days_left < TOKEN_EXPIRY_WARNING_DAYS {
            Self::ExpiresSoon { days_left, on }
        } else {
            Self::Valid
        }
    }

    /// The run's warning (soon) or failure (expired) in words the user can act on; `None` when valid.
    pub fn message(&self) -> Option<String> {
        match self {
            Self::Valid => None,
            Self::ExpiresSoon { days_left, on } => Some(format!(
                "the SentinelOne API token expires on {on} (in {days_left} day(s)): generate a new service-user \
                 token in the console and save it in the configuration before then"
            )),
            Self::Expired { on } => Some(format!(
                "the SentinelOne API token expired on {on}: generate a new service-user token in the console and \
                 save it in the configuration"
            )),
        }
    }
}

#[cfg(test)]
mod expiry_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fourteen_days_warn_and_the_past_fails() {
        let now = datetime!(2026-11-30 12:00 UTC);
        assert_eq!(
            TokenExpiry::of(datetime!(2027-01-30 00:00 UTC), now),
            TokenExpiry::Valid
        );
        assert_eq!(
            TokenExpiry::of(datetime!(2026-12-14 13:00 UTC), now),
            TokenExpiry::Valid
        );
        let soon = TokenExpiry::of(datetime!(2026-12-05 12:00 UTC), now);
        assert!(matches!(
            soon,
            TokenExpiry::ExpiresSoon { days_left: 5, .. }
        ));
        assert!(soon.message().unwrap().contains("2026-12-05"));
        let gone = TokenExpiry::of(datetime!(2026-11-29 00:00 UTC), now);
        assert!(matches!(gone, TokenExpiry::Expired { .. }));
        let m = gone.message().unwrap();
        assert!(m.contains("expired") && m.contains("generate a new"), "{m}");
    }
}
