//! The web console's static files (`console/` at the workspace root), embedded in the binary at compile time and
//! served on `GET /console`, `GET /console/{file}` and `GET /console/screens/{file}`. These routes sit outside the
//! JWT authorizer (a browser cannot attach a bearer token to a page load); the page itself holds no data and calls
//! the API, same-origin, with the platform's token. Every answer carries the console's security headers.

use std::sync::OnceLock;

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use sha2::{Digest, Sha256};

/// Where the console is served: the page at `/console`, its files below it.
pub const ROOT: &str = "/console";

/// Only our own files may run, style or be fetched; the page is never framed (clickjacking of Disconnect), sends
/// no referrer (record links open the SentinelOne console) and submits no forms anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file: its path below `/console/`, its media type and its bytes.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub text: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            text: include_str!(concat!("../../../console/", $path)),
        }
    };
}

/// Every file of `console/` (a unit test compares this list with the folder, so a new screen cannot be forgotten).
/// Listed by hand rather than by a build script: a dozen lines, and no build step to explain.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("auth.js", JS),
    asset!("dom.js", JS),
    asset!("format.js", JS),
    asset!("paged-list.js", JS),
    asset!("screens/sign-in.js", JS),
    asset!("screens/overview.js", JS),
    asset!("screens/settings.js", JS),
    asset!("screens/history.js", JS),
    asset!("screens/assets.js", JS),
    asset!("screens/findings.js", JS),
    asset!("screens/custom-fields.js", JS),
];

/// The file a request path names: `/console` and `/console/` are the page; anything not embedded is `None`.
pub fn find(path: &str) -> Option<&'static Asset> {
    let rest = path.strip_prefix(ROOT)?;
    let file = match rest {
        "" | "/" => "index.html",
        other => other.strip_prefix('/')?,
    };
    ASSETS.iter().find(|a| a.path == file)
}

/// A strong validator per file, computed once per cold start: the files change only with a deployment.
fn etag(asset: &Asset) -> &'static str {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    let etags = ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.text.as_bytes());
                format!("\"{}\"", hex::encode(&digest[..16]))
            })
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|a| std::ptr::eq(a, asset))
        .unwrap_or_default();
    &etags[index]
}

/// Serves the file the path names (GET and HEAD), 304 when the caller's copy is current, 404 otherwise.
pub async fn handle(request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(&request))
}

/// [`handle`] without the async wrapper, for callers that already hold the request.
pub fn respond(request: &Request) -> Response<Body> {
    let path = request.uri().path();
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here");
    }
    let Some(asset) = find(path) else {
        tracing::info!(path, "no such console file");
        return plain(StatusCode::NOT_FOUND, "no such console file");
    };
    let tag = etag(asset);
    let current = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let (status, body) = if current {
        (StatusCode::NOT_MODIFIED, Body::Empty)
    } else if request.method() == Method::HEAD {
        (StatusCode::OK, Body::Empty)
    } else {
        (StatusCode::OK, Body::Text(asset.text.to_string()))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::ETAG, HeaderValue::from_static(tag));
    // File names carry no version, so every load revalidates (a 304 costs one small request) and a deployment
    // takes effect at once instead of mixing old and new modules.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(headers);
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(text.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(headers);
    response
}

fn security_headers(headers: &mut lambda_http::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // For browsers that predate frame-ancestors.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn console_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../console")
    }

    fn files_under(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("console/ is readable") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().expect("type").is_dir() {
                files_under(&entry.path(), &format!("{prefix}{name}/"), out);
            } else {
                out.insert(format!("{prefix}{name}"));
            }
        }
    }

    fn get(path: &str) -> Response<Body> {
        let request = lambda_http::http::Request::builder()
            .method("GET")
            .uri(format!("https://api.example.com{path}"))
            .body(Body::Empty)
            .expect("request");
        respond(&request)
    }

    #[test]
    fn every_file_of_the_console_folder_is_embedded_and_nothing_else() {
        let mut on_disk = BTreeSet::new();
        files_under(&console_dir(), "", &mut on_disk);
        let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn every_file_fits_the_deployed_routes() {
        // GET /console/{file} and GET /console/screens/{file}: one folder level, and only screens/.
        for a in ASSETS {
            let ok = match a.path.split_once('/') {
                None => true,
                Some((dir, file)) => dir == "screens" && !file.contains('/'),
            };
            assert!(ok, "{} is not reachable through the console routes", a.path);
        }
    }

    #[test]
    fn every_module_import_and_page_reference_names_an_embedded_file() {
        let mut checked = 0;
        for a in ASSETS {
            let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
            for quote in ['"', '\''] {
                for piece in a.text.split(quote).skip(1).step_by(2) {
                    let target = if let Some(abs) = piece.strip_prefix("/console/") {
                        abs.to_string()
                    } else if let Some(rel) = piece.strip_prefix("./") {
                        if dir.is_empty() {
                            rel.to_string()
                        } else {
                            format!("{dir}/{rel}")
                        }
                    } else if let Some(up) = piece.strip_prefix("../") {
                        up.to_string()
                    } else {
                        continue;
                    };
                    if !(target.ends_with(".js") || target.ends_with(".css")) {
                        continue;
                    }
                    assert!(
                        ASSETS.iter().any(|x| x.path == target),
                        "{} refers to {piece}, which is not embedded",
                        a.path
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 15, "only {checked} references found");
    }

    #[test]
    fn the_page_is_served_with_its_type_and_the_security_headers() {
        for path in ["/console", "/console/", "/console/index.html"] {
            let r = get(path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], HTML);
            let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(csp.starts_with("default-src 'self'"));
            assert!(csp.contains("frame-ancestors 'none'"));
            assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        }
        let js = get("/console/screens/settings.js");
        assert_eq!(js.headers()[header::CONTENT_TYPE], JS);
        assert!(matches!(js.body(), Body::Text(t) if t.contains("export")));
        assert_eq!(
            get("/console/style.css").headers()[header::CONTENT_TYPE],
            CSS
        );
    }

    #[test]
    fn unknown_files_and_escapes_are_404_with_the_same_headers() {
        for path in [
            "/console/nope.js",
            "/console/../Cargo.toml",
            "/console/screens/../app.js",
            "/consoleapp.js",
        ] {
            let r = get(path);
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
    }

    #[test]
    fn a_current_copy_is_answered_304_and_a_stale_one_gets_the_file() {
        let first = get("/console/app.js");
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_string();
        let conditional = |value: &str| {
            let request = lambda_http::http::Request::builder()
                .uri("https://api.example.com/console/app.js")
                .header(header::IF_NONE_MATCH, value)
                .body(Body::Empty)
                .unwrap();
            respond(&request)
        };
        assert_eq!(conditional(&tag).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(conditional("\"stale\"").status(), StatusCode::OK);
        assert_ne!(
            tag,
            get("/console/api.js").headers()[header::ETAG]
                .to_str()
                .unwrap()
        );
    }

    #[test]
    fn no_module_builds_markup_from_strings() {
        // Every node is built with createElement/textContent (console/dom.js): API data can never become markup.
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for sink in [
                "innerHTML",
                "outerHTML =",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!a.text.contains(sink), "{} uses {sink}", a.path);
            }
        }
    }
}
