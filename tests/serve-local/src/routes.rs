//! API Gateway's routes, read from `infra/template.yaml` (the HttpApi events of every function) rather than typed
//! again here, so the local server answers exactly the routes a deployment has, with the same function behind each
//! and the same authorizer choice.

use http_api::percent_decode;
use serde_yaml::Value;

/// The template, as compiled into this binary.
const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// One `HttpApi` event of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// The template path, e.g. `/v1/integrations/sentinelone/sync-runs/{id}`.
    pub path: String,
    /// The function's bin (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// `Auth.Authorizer: NONE`: served without the JWT authorizer (the console's static files only).
    pub public: bool,
}

impl Route {
    /// API Gateway's route key, as the Lambda event carries it.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters when `path` matches this route's template, `None` otherwise. Parameters match one
    /// non-empty segment, like API Gateway's `{name}`.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let want: Vec<&str> = self.path.split('/').collect();
        let got: Vec<&str> = path.split('/').collect();
        if want.len() != got.len() {
            return None;
        }
        let mut params = Vec::new();
        for (w, g) in want.iter().zip(&got) {
            if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                if g.is_empty() {
                    return None;
                }
                params.push((name.to_string(), percent_decode(g)));
            } else if w != g {
                return None;
            }
        }
        Some(params)
    }

    fn literal_segments(&self) -> usize {
        self.path.split('/').filter(|s| !s.starts_with('{')).count()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("infra/template.yaml: {0}")]
pub struct TemplateError(String);

/// Every HttpApi route of the template.
pub fn template_routes() -> Result<Vec<Route>, TemplateError> {
    let doc: Value = serde_yaml::from_str(TEMPLATE).map_err(|e| TemplateError(e.to_string()))?;
    let resources = doc["Resources"]
        .as_mapping()
        .ok_or_else(|| TemplateError("no Resources".into()))?;
    let mut routes = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| TemplateError(format!("{id:?} has no BuildProperties.Binary")))?;
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            let (Some(method), Some(path)) = (props["Method"].as_str(), props["Path"].as_str())
            else {
                return Err(TemplateError(format!(
                    "{id:?}: an HttpApi event without Method/Path"
                )));
            };
            routes.push(Route {
                method: method.to_ascii_uppercase(),
                path: path.to_string(),
                binary: binary.to_string(),
                public: props["Auth"]["Authorizer"].as_str() == Some("NONE"),
            });
        }
    }
    Ok(routes)
}

/// The route API Gateway would pick: same method, matching template, the most literal segments first (a literal
/// segment wins over a parameter).
pub fn select<'a>(
    routes: &'a [Route],
    method: &str,
    path: &str,
) -> Option<(&'a Route, Vec<(String, String)>)> {
    routes
        .iter()
        .filter(|r| r.method == method)
        .filter_map(|r| r.matches(path).map(|p| (r, p)))
        .max_by_key(|(r, _)| r.literal_segments())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_routes_include_the_api_and_the_console() {
        let routes = template_routes().expect("routes");
        assert!(routes.len() >= 14, "{routes:?}");
        let public: Vec<_> = routes.iter().filter(|r| r.public).collect();
        assert!(!public.is_empty());
        for r in &public {
            assert_eq!(
                r.binary, "console-assets",
                "only the console is public: {r:?}"
            );
            assert_eq!(r.method, "GET");
        }
        assert!(routes
            .iter()
            .any(|r| r.key() == "POST /v1/integrations/sentinelone/sync" && !r.public));
    }

    #[test]
    fn a_literal_segment_wins_and_parameters_are_decoded() {
        let routes = template_routes().expect("routes");
        let (r, p) = select(
            &routes,
            "GET",
            "/v1/integrations/sentinelone/sync-runs/abc-1",
        )
        .unwrap();
        assert_eq!(r.path, "/v1/integrations/sentinelone/sync-runs/{id}");
        assert_eq!(p, vec![("id".to_string(), "abc-1".to_string())]);
        let (r, p) = select(&routes, "DELETE", "/v1/custom-fields/Cost%20center").unwrap();
        assert_eq!(r.binary, "custom-fields");
        assert_eq!(p[0].1, "Cost center");
        let (r, _) = select(&routes, "GET", "/console/screens/settings.js").unwrap();
        assert_eq!(r.path, "/console/screens/{file}");
        assert!(select(&routes, "GET", "/v1/integrations/sentinelone/sync-runs/").is_none());
        assert!(select(&routes, "PATCH", "/v1/integrations/sentinelone/config").is_none());
        assert!(select(&routes, "GET", "/console/a/b/c.js").is_none());
    }
}
