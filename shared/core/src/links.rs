//! Console deep links. **Best effort**: SentinelOne does not document console routes. The threat route
//! (`/incidents/threats/<id>/overview`) is the one integrations have linked to for years; the endpoint route
//! (`/endpoints/<agentId>`) is our best guess at the device page. Both are built in this one file so a changed
//! route is a one-line fix, and a missing base URL simply means no link.

/// The console root: trimmed, trailing `/` and a pasted API path (`/web/api/v2.1`) removed. `None` when blank,
/// so no half-built link is ever stored. Validating the console URL itself is the client's job (decision 1).
fn root(base: &str) -> Option<&str> {
    let b = base.trim().trim_end_matches('/');
    let b = b
        .strip_suffix("/web/api/v2.1")
        .unwrap_or(b)
        .trim_end_matches('/');
    (!b.is_empty()).then_some(b)
}

/// `root` + `before` + the percent-encoded id + `after`, built in one allocation.
///
/// The id is percent-encoded outside the URL-safe unreserved set (dots included, so `..` cannot climb the
/// path); SentinelOne ids are digits, but an id is external data and must not be able to change the path.
fn link(root: &str, before: &str, id: &str, after: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(root.len() + before.len() + id.len() + after.len());
    out.push_str(root);
    out.push_str(before);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out.push_str(after);
    out
}

/// `<base>/incidents/threats/<threatId>/overview`.
pub fn threat_url(base: &str, threat_id: &str) -> Option<String> {
    let root = root(base)?;
    let id = threat_id.trim();
    (!id.is_empty()).then(|| link(root, "/incidents/threats/", id, "/overview"))
}

/// `<base>/endpoints/<agentId>`.
pub fn agent_url(base: &str, agent_id: &str) -> Option<String> {
    let root = root(base)?;
    let id = agent_id.trim();
    (!id.is_empty()).then(|| link(root, "/endpoints/", id, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_built_from_the_root() {
        assert_eq!(
            threat_url("https://usea1-acme.sentinelone.net/", "123").as_deref(),
            Some("https://usea1-acme.sentinelone.net/incidents/threats/123/overview")
        );
        assert_eq!(
            agent_url("https://acme.sentinelone.net", "657613730168123595").as_deref(),
            Some("https://acme.sentinelone.net/endpoints/657613730168123595")
        );
        assert_eq!(
            agent_url("https://acme.sentinelone.net", "../x?y").as_deref(),
            Some("https://acme.sentinelone.net/endpoints/%2E%2E%2Fx%3Fy")
        );
        assert_eq!(
            agent_url("https://acme.sentinelone.net", "é/ü").as_deref(),
            Some("https://acme.sentinelone.net/endpoints/%C3%A9%2F%C3%BC")
        );
        assert_eq!(
            threat_url("https://acme.sentinelone.net/web/api/v2.1/", "7").as_deref(),
            Some("https://acme.sentinelone.net/incidents/threats/7/overview")
        );
        assert_eq!(threat_url("  ", "1"), None);
        assert_eq!(agent_url("https://acme.sentinelone.net", " "), None);
    }
}
