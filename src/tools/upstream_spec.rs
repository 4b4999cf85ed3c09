//! The `upstream` spec kind: an MCP server whose tools the gateway serves as its own, prefixed.
//!
//! `{"kind": "upstream", "name", "prefix", "transport": "streamable_http" | "sse" | "stdio", "url"?, "headers"?,
//! "command"?, "args"?, "env"?, "tools"?: {include, exclude, rename, descriptions, fixed}, "timeout_secs"?, "pin"?}`.
//! Everything is checked when the file loads and every problem is reported by JSON path; header and
//! environment values are templates that may read the settings `template_env` allows (`{{env.CRM_MCP_TOKEN}}`).
//! This module reads JSON values only; connecting to the server is not its job.

use std::time::Duration;

use serde_json::{Map, Value};

use super::spec::{PathError, check_name, optional_str, reject_unknown_keys, required_str, string_array};
use super::template::{Known, Template};
use crate::config::TemplateEnv;

const KEYS: &[&str] = &[
    "kind",
    "name",
    "prefix",
    "transport",
    "url",
    "headers",
    "command",
    "args",
    "env",
    "tools",
    "timeout_secs",
    "pin",
];
const TOOLS_KEYS: &[&str] = &["include", "exclude", "rename", "descriptions", "fixed"];
/// Longest prefix: leaves room under the 64-character name limit for the upstream's own names.
const MAX_PREFIX: usize = 32;

/// How the gateway reaches the upstream.
#[derive(Debug, PartialEq)]
pub enum Transport {
    /// Streamable HTTP (`url`, `headers`).
    StreamableHttp { url: String, headers: Vec<(String, Template)> },
    /// The legacy HTTP+SSE transport (`url`, `headers`).
    Sse { url: String, headers: Vec<(String, Template)> },
    /// A child process speaking JSON-RPC lines on stdin/stdout; its environment is only `env`.
    Stdio { command: String, args: Vec<String>, env: Vec<(String, Template)> },
}

/// Which upstream tools are served, under which names, with which arguments set by the gateway.
#[derive(Debug, Default, PartialEq)]
pub struct ToolRules {
    /// Name patterns (`*` matches any run of characters); empty means every tool.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Upstream name -> name served (before the prefix).
    pub rename: Vec<(String, String)>,
    /// Upstream name -> the description clients see.
    pub descriptions: Vec<(String, String)>,
    /// Upstream name -> arguments the gateway sets (removed from the schema clients see).
    pub fixed: Vec<(String, Map<String, Value>)>,
}

/// A checked `upstream` spec.
#[derive(Debug, PartialEq)]
pub struct UpstreamSpec {
    pub name: String,
    pub prefix: String,
    pub transport: Transport,
    pub tools: ToolRules,
    /// Per request to the upstream; 60 s when absent.
    pub timeout: Duration,
    /// Record each tool's definition and hold back changed ones until approved (default on).
    pub pin: bool,
}

impl UpstreamSpec {
    /// Parse a spec whose `kind` is `upstream`.
    pub fn parse(obj: &Map<String, Value>, env: &TemplateEnv) -> Result<Self, PathError> {
        reject_unknown_keys(obj, KEYS, "$")?;
        let name = required_str(obj, "name", "$.name")?;
        check_name(&name).map_err(|m| PathError::new("$.name", m))?;
        let prefix = required_str(obj, "prefix", "$.prefix")?;
        check_name(&prefix).map_err(|m| PathError::new("$.prefix", m))?;
        if prefix.len() > MAX_PREFIX {
            return Err(PathError::new("$.prefix", format!("must be at most {MAX_PREFIX} characters")));
        }
        let known = Known { args: Vec::new(), steps: Vec::new(), env, run: false };
        let transport = match required_str(obj, "transport", "$.transport")?.as_str() {
            "streamable_http" => {
                no_keys(obj, &["command", "args", "env"], "streamable_http")?;
                Transport::StreamableHttp {
                    url: url(obj)?,
                    headers: templates(obj.get("headers"), "$.headers", &known)?,
                }
            }
            "sse" => {
                no_keys(obj, &["command", "args", "env"], "sse")?;
                Transport::Sse { url: url(obj)?, headers: templates(obj.get("headers"), "$.headers", &known)? }
            }
            "stdio" => {
                no_keys(obj, &["url", "headers"], "stdio")?;
                Transport::Stdio {
                    command: required_str(obj, "command", "$.command")?,
                    args: string_array(obj.get("args"), "$.args")?,
                    env: templates(obj.get("env"), "$.env", &known)?,
                }
            }
            other => {
                return Err(PathError::new(
                    "$.transport",
                    format!("unknown transport `{other}`; expected streamable_http, sse or stdio"),
                ));
            }
        };
        let tools = match obj.get("tools") {
            None => ToolRules::default(),
            Some(Value::Object(rules)) => tool_rules(rules, &prefix)?,
            Some(_) => return Err(PathError::new("$.tools", "must be an object")),
        };
        let timeout = match obj.get("timeout_secs") {
            None => Duration::from_secs(60),
            Some(v) => v
                .as_f64()
                .filter(|s| *s > 0.0 && *s <= 3600.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| PathError::new("$.timeout_secs", "must be seconds between 0 and 3600"))?,
        };
        let pin = match obj.get("pin") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(PathError::new("$.pin", "must be a boolean")),
        };
        Ok(Self { name, prefix, transport, tools, timeout, pin })
    }
}

/// Refuse fields that belong to another transport.
fn no_keys(obj: &Map<String, Value>, keys: &[&str], transport: &str) -> Result<(), PathError> {
    match keys.iter().find(|k| obj.contains_key(**k)) {
        Some(k) => Err(PathError::new(format!("$.{k}"), format!("`{k}` is not used by the {transport} transport"))),
        None => Ok(()),
    }
}

fn url(obj: &Map<String, Value>) -> Result<String, PathError> {
    let url = required_str(obj, "url", "$.url")?;
    match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => Ok(url),
        _ => Err(PathError::new("$.url", "must be an absolute http:// or https:// URL")),
    }
}

fn templates(value: Option<&Value>, path: &str, known: &Known<'_>) -> Result<Vec<(String, Template)>, PathError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, v)| {
                let at = format!("{path}.{key}");
                if !v.is_string() {
                    return Err(PathError::new(at, "must be a string"));
                }
                Template::parse(v, &at, known).map(|t| (key.clone(), t))
            })
            .collect(),
        Some(_) => Err(PathError::new(path, "must be an object of strings")),
    }
}

fn string_map(value: Option<&Value>, path: &str) -> Result<Vec<(String, String)>, PathError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match optional_str(map, k, &format!("{path}.{k}"))? {
                Some(s) => Ok((k.clone(), s)),
                None => Err(PathError::new(format!("{path}.{k}"), format!("must be a string, not {v}"))),
            })
            .collect(),
        Some(_) => Err(PathError::new(path, "must be an object of strings")),
    }
}

fn tool_rules(rules: &Map<String, Value>, prefix: &str) -> Result<ToolRules, PathError> {
    reject_unknown_keys(rules, TOOLS_KEYS, "$.tools")?;
    let rename = string_map(rules.get("rename"), "$.tools.rename")?;
    for (from, to) in &rename {
        check_name(&format!("{prefix}{to}")).map_err(|m| PathError::new(format!("$.tools.rename.{from}"), m))?;
    }
    let fixed = match rules.get("fixed") {
        None => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(tool, args)| match args {
                Value::Object(args) => Ok((tool.clone(), args.clone())),
                _ => Err(PathError::new(format!("$.tools.fixed.{tool}"), "must be an object of argument values")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(PathError::new("$.tools.fixed", "must be an object: tool name -> arguments")),
    };
    Ok(ToolRules {
        include: string_array(rules.get("include"), "$.tools.include")?,
        exclude: string_array(rules.get("exclude"), "$.tools.exclude")?,
        rename,
        descriptions: string_map(rules.get("descriptions"), "$.tools.descriptions")?,
        fixed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<UpstreamSpec, PathError> {
        let Value::Object(obj) = value else { panic!("an object") };
        UpstreamSpec::parse(&obj, &TemplateEnv::new(&["CRM_*"]))
    }

    fn crm() -> Value {
        json!({"kind": "upstream", "name": "crm", "prefix": "crm_", "transport": "streamable_http",
               "url": "https://crm.internal/mcp", "headers": {"Authorization": "Bearer {{env.CRM_MCP_TOKEN}}"},
               "tools": {"include": ["*"], "exclude": ["internal_only"], "rename": {"add": "sum"},
                         "descriptions": {"sum": "..."}, "fixed": {"search": {"tenant": "acme"}}},
               "timeout_secs": 60})
    }

    #[test]
    fn the_issue_shape_parses() {
        let spec = parse(crm()).unwrap();
        assert_eq!((spec.name.as_str(), spec.prefix.as_str(), spec.pin), ("crm", "crm_", true));
        assert!(matches!(&spec.transport, Transport::StreamableHttp { headers, .. } if headers.len() == 1));
        assert_eq!(spec.tools.rename, [("add".to_owned(), "sum".to_owned())]);
        assert_eq!(spec.tools.fixed[0].1["tenant"], "acme");
        assert_eq!(spec.timeout, Duration::from_secs(60));
    }

    #[test]
    fn problems_are_reported_by_path() {
        let with = |key: &str, value: Value| {
            let mut spec = crm();
            spec[key] = value;
            parse(spec).unwrap_err().path
        };
        assert_eq!(with("transport", json!("websocket")), "$.transport");
        assert_eq!(with("url", json!("ftp://crm")), "$.url");
        assert_eq!(with("prefix", json!("has space")), "$.prefix");
        assert_eq!(with("pin", json!("yes")), "$.pin");
        assert_eq!(with("timeout_secs", json!(0)), "$.timeout_secs");
        assert_eq!(with("command", json!("crm-server")), "$.command");
        assert_eq!(with("headers", json!({"X-Key": "{{env.OPENAI_API_KEY}}"})), "$.headers.X-Key");
        assert_eq!(with("tools", json!({"rename": {"add": "x".repeat(64)}})), "$.tools.rename.add");
        assert_eq!(with("tools", json!({"fixed": {"search": 1}})), "$.tools.fixed.search");
        assert_eq!(with("tools", json!({"only": []})), "$.tools.only");
        assert_eq!(with("extra", json!(1)), "$.extra");
    }

    #[test]
    fn stdio_takes_a_command_and_its_environment() {
        let spec = parse(json!({"kind": "upstream", "name": "local", "prefix": "local_", "transport": "stdio",
                                "command": "python3", "args": ["server.py"], "env": {"TOKEN": "{{env.CRM_TOKEN}}"},
                                "pin": false}))
        .unwrap();
        assert!(matches!(&spec.transport, Transport::Stdio { args, env, .. } if args.len() == 1 && env.len() == 1));
        assert!(!spec.pin);
    }
}
