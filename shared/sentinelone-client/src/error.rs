//! The one error type of this crate. Each Display is a sentence the person configuring the connector can act on;
//! none carries a token, a header value or a response body.

use std::fmt;

use crate::url_policy::UrlPolicyError;

/// What the console said about a refused request, from its `{"errors":[{code,title,detail}]}` envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleMessage {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub detail: Option<String>,
}

impl ConsoleMessage {
    /// Parses the error envelope leniently: a body that is not the envelope yields an empty message, never an error,
    /// because the status code alone already tells the caller what went wrong.
    pub fn from_body(body: &[u8]) -> ConsoleMessage {
        Self::from_body_without(body, "")
    }

    /// [`ConsoleMessage::from_body`], with every copy of `secret` (the API token) removed from the console's words
    /// before they are cut to length: a console, or a proxy in front of it, that echoes the `Authorization` header in
    /// its error envelope would otherwise put the token into run history, logs and connection-test responses.
    pub fn from_body_without(body: &[u8], secret: &str) -> ConsoleMessage {
        #[derive(serde::Deserialize)]
        struct Envelope {
            #[serde(default)]
            errors: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            code: Option<serde_json::Value>,
            title: Option<String>,
            detail: Option<String>,
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
            return ConsoleMessage::default();
        };
        let Some(first) = envelope.errors.into_iter().next() else {
            return ConsoleMessage::default();
        };
        let code = match first.code {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let clean = |text: String| {
            if secret.is_empty() {
                bounded(&text)
            } else {
                bounded(&text.replace(secret, "[redacted]"))
            }
        };
        ConsoleMessage {
            code,
            title: first.title.map(clean),
            detail: first.detail.map(clean),
        }
    }
}

/// Console-supplied text is shown to users; a hostile or broken console must not be able to flood a message.
fn bounded(text: &str) -> String {
    const MAX: usize = 160;
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= MAX {
        clean
    } else {
        let mut cut: String = clean.chars().take(MAX).collect();
        cut.push('…');
        cut
    }
}

/// Renders "(401, code 4010010 Authentication Failed)" from the status and whatever the console sent.
pub(crate) struct StatusNote<'a> {
    pub status: u16,
    pub message: &'a ConsoleMessage,
}

impl fmt::Display for StatusNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}", self.status)?;
        if let Some(code) = self.message.code {
            write!(f, ", code {code}")?;
        }
        match (&self.message.title, &self.message.detail) {
            (Some(title), _) => write!(f, " {title}")?,
            (None, Some(detail)) => write!(f, " {detail}")?,
            (None, None) => {}
        }
        write!(f, ")")
    }
}

fn note(status: u16, message: &ConsoleMessage) -> StatusNote<'_> {
    StatusNote { status, message }
}

/// Everything that can go wrong talking to a SentinelOne console.
#[derive(Debug, thiserror::Error)]
pub enum S1Error {
    #[error("{0}")]
    UrlRefused(#[from] UrlPolicyError),

    #[error("could not resolve the console host {host}: check the console URL for typos")]
    Dns { host: String, reason: String },

    #[error(
        "the TLS connection to {host} failed ({reason}): the console must present a valid public certificate for its \
         own name"
    )]
    Tls { host: String, reason: String },

    #[error(
        "the SentinelOne console did not answer {endpoint} in time: it may be overloaded or unreachable; try again \
         later"
    )]
    Timeout { endpoint: String },

    #[error("could not connect to the SentinelOne console at {host} ({reason}): check the URL and try again later")]
    Connect { host: String, reason: String },

    #[error(
        "the connection to the SentinelOne console broke while reading the answer to {endpoint}: try again later"
    )]
    Interrupted { endpoint: String },

    #[error(
        "SentinelOne rejected the API token {}: it may be expired or revoked; create a new service-user token with \
         the Viewer role", note(*status, message)
    )]
    Unauthorized {
        status: u16,
        message: ConsoleMessage,
    },

    #[error(
        "the API token lacks the {permission} permission needed for {endpoint} {}: give the service user the Viewer \
         role (or a role with {permission}) on the account or site being imported", note(403, message)
    )]
    Forbidden {
        permission: String,
        endpoint: String,
        message: ConsoleMessage,
    },

    #[error(
        "the address answered 404 for {endpoint}: it is not a SentinelOne console (or not API v2.1); use the URL \
         you open the SentinelOne management console with"
    )]
    NotFound { endpoint: String },

    #[error(
        "SentinelOne refused the request to {endpoint} {}: this is a connector bug or an unsupported console \
         version; report it with this message", note(400, message)
    )]
    BadRequest {
        endpoint: String,
        message: ConsoleMessage,
    },

    #[error(
        "SentinelOne kept asking the connector to slow down (429) on {endpoint} until the retry budget of {}s ran \
         out: try again later or lower the request rate", budget_secs
    )]
    RateLimited { endpoint: String, budget_secs: u64 },

    #[error(
        "the SentinelOne console kept failing on {endpoint} {}: it may be down or under maintenance; try again \
         later", note(*status, message)
    )]
    Server {
        endpoint: String,
        status: u16,
        message: ConsoleMessage,
    },

    #[error(
        "the console answered {endpoint} with a redirect ({status}) to {location}, which the connector does not \
         follow: enter the console's own https:// URL"
    )]
    Redirect {
        endpoint: String,
        status: u16,
        location: String,
    },

    #[error("the console answered {endpoint} with the unexpected status {status}: check that the URL is a SentinelOne console")]
    UnexpectedStatus { endpoint: String, status: u16 },

    #[error(
        "SentinelOne sent an answer to {endpoint} that could not be read at byte {offset}: try again later; if it \
         persists, report it"
    )]
    MalformedBody { endpoint: String, offset: u64 },

    #[error(
        "SentinelOne sent an answer to {endpoint} larger than {limit_bytes} bytes, which the connector refuses to \
         hold: report it"
    )]
    BodyTooLarge { endpoint: String, limit_bytes: u64 },

    #[error(
        "SentinelOne rejected the paging cursor for {endpoint} again after the walk was restarted once: try the \
         sync again later"
    )]
    CursorRejected {
        endpoint: String,
        message: ConsoleMessage,
    },

    #[error(
        "SentinelOne returned the same paging cursor twice for {endpoint}; the walk was stopped instead of looping: \
         try the sync again later"
    )]
    RepeatedCursor { endpoint: String },

    #[error(
        "SentinelOne answered {endpoint} with an empty page that still carried a cursor to a next page, and kept \
         doing so when asked again: the walk was stopped instead of being taken as complete; try the sync again later"
    )]
    EmptyPageWithCursor { endpoint: String },

    #[error(
        "SentinelOne kept handing out new page cursors for {endpoint}: the walk was stopped after {pages} pages, the \
         most the item count the console reported allows ({limit}); try the sync again later"
    )]
    TooManyPages {
        endpoint: String,
        pages: u64,
        limit: u64,
    },

    #[error(
        "the invocation's time ran out while waiting for SentinelOne ({endpoint}); the walk can resume from its \
         last checkpoint"
    )]
    DeadlineReached { endpoint: String },

    #[error(
        "no SentinelOne group is named {}: check the spelling (names are matched ignoring case and surrounding \
         spaces) or remove them from the group filter", names.join(", ")
    )]
    UnknownGroups { names: Vec<String> },

    #[error(
        "the SentinelOne client could not be set up ({reason}): this is a connector bug; report it"
    )]
    ClientSetup { reason: String },
}

impl S1Error {
    /// Whether the same call may succeed if made again later without anyone changing the configuration. The client
    /// has already spent its own retry budget when it returns one of these; this tells the caller (an SQS redrive,
    /// the next scheduled sync) whether trying later is worthwhile.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            S1Error::Timeout { .. }
                | S1Error::Connect { .. }
                | S1Error::Interrupted { .. }
                | S1Error::RateLimited { .. }
                | S1Error::Server { .. }
                | S1Error::MalformedBody { .. }
                | S1Error::CursorRejected { .. }
                | S1Error::RepeatedCursor { .. }
                | S1Error::EmptyPageWithCursor { .. }
                | S1Error::TooManyPages { .. }
                | S1Error::DeadlineReached { .. }
        )
    }

    /// True when the call stopped only because the deadline the caller set ([`crate::ClientOptions::deadline`])
    /// came: nothing failed, the work can continue in another invocation from its checkpoint.
    pub fn is_deadline(&self) -> bool {
        matches!(self, S1Error::DeadlineReached { .. })
    }

    /// A stable code for the API layer and metrics; never changes once released.
    pub fn kind(&self) -> &'static str {
        match self {
            S1Error::UrlRefused(_) => "url_refused",
            S1Error::Dns { .. } => "dns",
            S1Error::Tls { .. } => "tls",
            S1Error::Timeout { .. } => "timeout",
            S1Error::Connect { .. } => "connect",
            S1Error::Interrupted { .. } => "interrupted",
            S1Error::Unauthorized { .. } => "unauthorized",
            S1Error::Forbidden { .. } => "forbidden",
            S1Error::NotFound { .. } => "not_found",
            S1Error::BadRequest { .. } => "bad_request",
            S1Error::RateLimited { .. } => "rate_limited",
            S1Error::Server { .. } => "server",
            S1Error::Redirect { .. } => "redirect",
            S1Error::UnexpectedStatus { .. } => "unexpected_status",
            S1Error::MalformedBody { .. } => "malformed_body",
            S1Error::BodyTooLarge { .. } => "body_too_large",
            S1Error::CursorRejected { .. } => "cursor_rejected",
            S1Error::RepeatedCursor { .. } => "repeated_cursor",
            S1Error::EmptyPageWithCursor { .. } => "empty_page_with_cursor",
            S1Error::TooManyPages { .. } => "too_many_pages",
            S1Error::DeadlineReached { .. } => "deadline_reached",
            S1Error::UnknownGroups { .. } => "unknown_groups",
            S1Error::ClientSetup { .. } => "client_setup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_names_code_title_and_fix() {
        let message = ConsoleMessage::from_body(
            br#"{"errors":[{"code":4010010,"detail":null,"title":"Authentication Failed"}]}"#,
        );
        let text = S1Error::Unauthorized {
            status: 401,
            message,
        }
        .to_string();
        assert_eq!(
            text,
            "SentinelOne rejected the API token (401, code 4010010 Authentication Failed): it may be expired or \
             revoked; create a new service-user token with the Viewer role"
        );
    }

    #[test]
    fn forbidden_names_the_permission() {
        let message = ConsoleMessage::from_body(
            br#"{"errors":[{"code":4030010,"detail":null,"title":"Insufficient permissions"}]}"#,
        );
        let e = S1Error::Forbidden {
            permission: "Threats.view".into(),
            endpoint: "threats".into(),
            message,
        };
        let text = e.to_string();
        assert!(text.contains("Threats.view"), "{text}");
        assert!(
            text.contains("(403, code 4030010 Insufficient permissions)"),
            "{text}"
        );
        assert_eq!(e.kind(), "forbidden");
        assert!(!e.is_retryable());
    }

    #[test]
    fn non_envelope_bodies_give_an_empty_message() {
        assert_eq!(
            ConsoleMessage::from_body(b"<html>nope</html>"),
            ConsoleMessage::default()
        );
        assert_eq!(
            ConsoleMessage::from_body(br#"{"errors":[]}"#),
            ConsoleMessage::default()
        );
        let m = ConsoleMessage::from_body(
            br#"{"errors":[{"code":"4000010","title":"Validation Error"}]}"#,
        );
        assert_eq!(m.code, Some(4000010));
        let text = S1Error::BadRequest {
            endpoint: "agents".into(),
            message: m,
        }
        .to_string();
        assert!(
            text.contains("(400, code 4000010 Validation Error)"),
            "{text}"
        );
    }

    #[test]
    fn console_text_is_bounded_and_stripped_of_control_characters() {
        let long = "x".repeat(5000);
        let body = format!(r#"{{"errors":[{{"code":1,"title":"{long}\n"}}]}}"#);
        let m = ConsoleMessage::from_body(body.as_bytes());
        let title = m.title.unwrap_or_default();
        assert!(title.chars().count() <= 161);
        assert!(!title.contains('\n'));
    }

    #[test]
    fn malformed_body_reports_offset_only() {
        let e = S1Error::MalformedBody {
            endpoint: "agents".into(),
            offset: 4242,
        };
        assert!(e.to_string().contains("byte 4242"));
        assert!(e.is_retryable());
        assert_eq!(e.kind(), "malformed_body");
    }

    #[test]
    fn only_the_deadline_is_a_deadline() {
        let e = S1Error::DeadlineReached {
            endpoint: "agents".into(),
        };
        assert!(e.is_deadline());
        assert!(e.is_retryable());
        assert_eq!(e.kind(), "deadline_reached");
        assert!(e.to_string().contains("time ran out"), "{e}");
        let timeout = S1Error::Timeout {
            endpoint: "agents".into(),
        };
        assert!(!timeout.is_deadline());
        let empty = S1Error::EmptyPageWithCursor {
            endpoint: "agents".into(),
        };
        assert!(!empty.is_deadline());
        assert!(empty.to_string().contains("empty page"), "{empty}");
        let pages = S1Error::TooManyPages {
            endpoint: "agents".into(),
            pages: 12,
            limit: 12,
        };
        assert_eq!(pages.kind(), "too_many_pages");
        assert!(pages.to_string().contains("after 12 pages"), "{pages}");
    }

    #[test]
    fn an_echoed_token_is_removed_before_the_message_is_cut() {
        let token = "eyJECHOED-token-0123456789abcdef";
        let padding = "x".repeat(140);
        let body = format!(
            r#"{{"errors":[{{"code":4010010,"title":"{padding} ApiToken {token}","detail":"header: ApiToken {token}"}}]}}"#
        );
        let m = ConsoleMessage::from_body_without(body.as_bytes(), token);
        for text in [m.title.as_deref(), m.detail.as_deref()] {
            let text = text.unwrap_or_default();
            assert!(!text.contains("eyJECHOED"), "{text}");
        }
        assert_eq!(m.detail.as_deref(), Some("header: ApiToken [redacted]"));
        assert_eq!(m.code, Some(4010010));
    }
}
