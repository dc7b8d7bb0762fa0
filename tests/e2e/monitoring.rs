//! The Grafana dashboard and the Prometheus alert rules of `scripts/packaging/`: the rules pass
//! `promtool check rules` and their unit tests (`promtool test rules`), every dashboard query is
//! valid PromQL, and every metric either names is one a running proxy exports.

use crate::harness::{free_port, http_get, Proxy, TempDir};
use crate::json::{self, Value};
use crate::ops::promtool;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/packaging")
        .join(file)
}

fn read(file: &str) -> String {
    let path = packaging(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Runs `promtool ARGS` in `dir` and panics with its output unless it succeeds.
fn run_promtool(promtool: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {}: {}\n{text}",
        args.join(" "),
        out.status
    );
    text
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = promtool("alert_rules_pass_promtool_check_and_their_unit_tests") else {
        return;
    };
    let dir = packaging("");
    let checked = run_promtool(
        &promtool,
        &dir,
        &["check", "rules", "prometheus-alerts.yml"],
    );
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = run_promtool(
        &promtool,
        &dir,
        &["test", "rules", "prometheus-alerts.test.yml"],
    );
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a unit test.
    let rules = read("prometheus-alerts.yml");
    let tests = read("prometheus-alerts.test.yml");
    for alert in alert_names(&rules) {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "alert {alert} has no test in prometheus-alerts.test.yml"
        );
    }
}

fn alert_names(rules: &str) -> Vec<String> {
    let names: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|name| name.trim().to_string())
        .collect();
    assert!(names.len() >= 5, "alerts found: {names:?}");
    names
}

/// Every `expr` of the dashboard: panel targets (rows included) and template variable queries.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(panels: &[Value], out: &mut Vec<String>) {
        for panel in panels {
            for target in panel.get("targets").as_array() {
                let expr = target.get("expr").as_str();
                out.push(expr.expect("every target has an expr").to_string());
            }
            walk(panel.get("panels").as_array(), out);
        }
    }
    let mut out = Vec::new();
    walk(dashboard.get("panels").as_array(), &mut out);
    for var in dashboard.get("templating").get("list").as_array() {
        if let Some(query) = var.get("query").get("query").as_str() {
            out.push(query.to_string());
        }
    }
    out
}

/// A Grafana query as plain PromQL: its variables replaced by values of the same kind, and a
/// `label_values(series, label)` variable query by the series.
fn as_promql(query: &str) -> String {
    let query = query
        .replace("$__rate_interval", "1m")
        .replace("$instance", ".*");
    match query.strip_prefix("label_values(") {
        Some(rest) => rest[..rest.rfind(',').expect("label_values(series, label)")].to_string(),
        None => query,
    }
}

#[test]
fn dashboard_parses_and_every_query_is_valid_promql() {
    let Some(promtool) = promtool("dashboard_parses_and_every_query_is_valid_promql") else {
        return;
    };
    let dashboard = json::parse(&read("grafana-dashboard.json")).expect("dashboard JSON");
    assert_eq!(dashboard.get("uid").as_str(), Some("kafka-proxy"));
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 20, "{queries:?}");
    // promtool parses the expressions of recording rules: one per query.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, query) in queries.iter().enumerate() {
        let expr = as_promql(query).replace('\'', "''");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: '{expr}'\n"
        ));
    }
    let dir = TempDir::new("kafka-proxy-dashboard");
    std::fs::write(dir.path().join("dashboard.yml"), &rules).unwrap();
    let checked = run_promtool(&promtool, dir.path(), &["check", "rules", "dashboard.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}\n{rules}");
}

/// The proxy's and the process's metric names in `text` (words starting with `proxy_` or
/// `process_` that are not part of a longer word).
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("proxy_") || word.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

/// The names a scrape of `/metrics` serves, from its `# TYPE` lines; a histogram serves its
/// `_bucket`, `_sum` and `_count` series.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

#[test]
fn dashboard_and_alerts_name_only_metrics_the_proxy_exports() {
    // No broker is needed: every metric has its `# TYPE` line from the start.
    let proxy = Proxy::start_for_port(free_port(), &[]);
    let (status, exposition) = http_get(proxy.http_port, "/metrics");
    assert_eq!(status, 200);
    let exported = exported_names(&exposition);

    let rules: String = read("prometheus-alerts.yml")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let dashboard = json::parse(&read("grafana-dashboard.json")).expect("dashboard JSON");
    let queries = dashboard_queries(&dashboard).join("\n");
    for (file, text) in [
        ("prometheus-alerts.yml", rules),
        ("grafana-dashboard.json", queries),
    ] {
        let named = metric_names(&text);
        assert!(named.len() >= 6, "{file}: {named:?}");
        let missing: Vec<&String> = named.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics the proxy does not export: {missing:?}\n--- /metrics ---\n{exposition}"
        );
    }
}
