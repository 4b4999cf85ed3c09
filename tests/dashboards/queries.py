"""Evaluate every query of the Grafana dashboards against a running Prometheus (used by check.sh).

Usage: queries.py PROMETHEUS_URL DEADLINE_SECS DASHBOARD.json...

For each dashboard: its structure (a uid, the DS_PROMETHEUS data source variable, every panel on it, unique panel
ids), every template variable query (`label_values(selector, label)`: some series must carry the label), and every
panel target `expr`, with Grafana's variables replaced by concrete values ($__rate_interval -> 1m, $__range -> 5m,
a template variable -> `.*`, its "All" value). A query passes when Prometheus answers it with a non-empty result.
Queries are evaluated in rounds until all pass or DEADLINE_SECS have passed (series created by the load need a
couple of scrapes before rate() has two samples); the last round is reported as PASS/FAIL lines. Stdlib only.
"""

import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DATASOURCE_VARIABLE = "DS_PROMETHEUS"
BUILTINS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$")


def api(prometheus, path, params):
    """GET an API path; (data, error text)."""
    url = f"{prometheus}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return None, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, str(e)
    if body.get("status") != "success":
        return None, f"{body.get('errorType')}: {body.get('error')}"
    return body["data"], None


def substitute(text, variables):
    """Grafana's built-in intervals, then every template variable as its All value."""
    for name, value in BUILTINS.items():
        text = text.replace(name, value)
    for name in sorted(variables, key=len, reverse=True):
        text = re.sub(r"\$\{" + re.escape(name) + r"(:[^}]*)?\}", ".*", text)
        text = re.sub(r"\$" + re.escape(name) + r"\b", ".*", text)
    return text


def panels_of(dashboard):
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def structure_problems(dashboard):
    """What would stop the dashboard from loading or from following the data source variable."""
    problems = []
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append("no uid or title")
    variables = dashboard.get("templating", {}).get("list", [])
    if not any(v.get("type") == "datasource" and v.get("name") == DATASOURCE_VARIABLE for v in variables):
        problems.append(f"no datasource variable {DATASOURCE_VARIABLE}")
    ids = [p.get("id") for p in panels_of(dashboard)]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append("panel ids missing or repeated")
    wanted = {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}
    for panel in panels_of(dashboard):
        if panel.get("type") == "row":
            continue
        if "gridPos" not in panel:
            problems.append(f"panel {panel.get('title')!r} has no gridPos")
        if not panel.get("targets"):
            problems.append(f"panel {panel.get('title')!r} has no query")
        for where in [panel] + panel.get("targets", []):
            if where.get("datasource") != wanted:
                problems.append(f"panel {panel.get('title')!r} does not use ${{{DATASOURCE_VARIABLE}}}")
                break
    return problems


def checks_of(name, dashboard):
    """(label, kind, query) for every variable query and panel target."""
    variables = [v["name"] for v in dashboard.get("templating", {}).get("list", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        yield f"{name} / variable {variable['name']}", "variable", substitute(query or "", variables)
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                label = f"{name} / {panel.get('title')} [{target.get('refId')}]"
                yield label, "expr", substitute(target["expr"], variables)


def evaluate(prometheus, kind, query):
    """None when the query returns data, else why not."""
    if "$" in query:
        return f"an unresolved Grafana variable in: {query}"
    if kind == "variable":
        match = LABEL_VALUES.match(query)
        if not match:
            return f"not a label_values(selector, label) query: {query}"
        data, error = api(prometheus, "/api/v1/series", {"match[]": match["selector"]})
        if error:
            return f"{error}: {query}"
        if not any(match["label"] in series for series in data):
            return f"no series with label {match['label']}: {query}"
        return None
    data, error = api(prometheus, "/api/v1/query", {"query": query})
    if error:
        return f"{error}: {query}"
    if not data["result"]:
        return f"empty result: {query}"
    return None


def main():
    prometheus, deadline, files = sys.argv[1].rstrip("/"), float(sys.argv[2]), sys.argv[3:]
    outcomes = []
    checks = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
        name = dashboard.get("title", path)
        problems = structure_problems(dashboard)
        outcomes.append((f"{name} / structure", "; ".join(problems) or None))
        checks.extend(checks_of(name, dashboard))
    if not checks:
        outcomes.append(("queries", "no query found in the dashboards"))
    give_up = time.monotonic() + deadline
    while True:
        results = [(label, evaluate(prometheus, kind, query)) for label, kind, query in checks]
        if all(error is None for _, error in results) or time.monotonic() > give_up:
            break
        time.sleep(1)
    for label, error in outcomes + results:
        print(f"PASS {label}" if error is None else f"FAIL {label}: {error}")


if __name__ == "__main__":
    main()
