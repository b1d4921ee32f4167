"""README's Telemetry and autopilot events sections hold to the code: every metric and event
type of the catalogue is documented (with each event's data fields), the use-case spans it
lists are the ones the code opens, and the Kusto queries name only tables, span names,
dimensions and metrics the app emits. (The queries were never run against Application
Insights; this is what can be checked here.)"""

from __future__ import annotations

import re
from pathlib import Path

from core.domain.observability import DIMENSIONS, EVENT_TYPES, METRICS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")
REPORTING = (ROOT / "core/services/reporting.py").read_text("utf-8")
# Span attributes beyond the dimensions, set by the reporter's annotate calls.
SPAN_ATTRIBUTES = ("outcome", "reason", "decision", "status")


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def kusto_blocks() -> list[str]:
    return re.findall(r"```kusto\n(.*?)```", section("Telemetry"), re.S)


def use_case_spans() -> set[str]:
    """Span names the code opens below the invocation: the use cases' and the timer steps'."""
    names: set[str] = set()
    for path in (ROOT / "core/services").rglob("*.py"):
        names |= set(re.findall(r"\.span\(\s*\"([a-z_]+)\"", path.read_text("utf-8")))
    monitors = (ROOT / "functions/monitors.py").read_text("utf-8")
    steps = re.search(r"for step in \(([^)]*)\)", monitors)
    assert steps is not None
    names |= {s.strip() for s in steps.group(1).split(",") if s.strip()}
    return names


def invocation_spans() -> set[str]:
    import function_app
    from functions.dispatch import registered_functions

    return set(registered_functions(function_app.app))


def test_every_metric_is_documented_with_its_kind_and_dimensions():
    text = section("Telemetry")
    for metric in METRICS.values():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{metric.name}`")),
                   None)
        assert row is not None, metric.name
        assert metric.kind in row and ", ".join(metric.dimensions) in row


def test_every_event_type_is_documented_with_its_subject_and_data():
    text = section("The autopilot's own events")
    for event in EVENT_TYPES.values():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{event.type}`")),
                   None)
        assert row is not None, event.type
        assert f"`{event.subject}`" in row
        assert all(f"`{field}`" in row for field in event.data), event.type


def test_the_span_names_the_readme_lists_are_the_codes():
    text = " ".join(section("Telemetry").split())
    listed = re.search(r"one span per use case \(a dependency\): (.*?)\. An event", text)
    assert listed is not None
    assert set(re.findall(r"`([a-z_]+)`", listed.group(1))) == use_case_spans()


def test_the_dimensions_the_readme_lists_are_the_codes():
    text = " ".join(section("Telemetry").split())
    listed = re.search(r"carry the custom dimensions (.*?) \(as far", text)
    assert listed is not None
    assert tuple(re.findall(r"`([a-z_]+)`", listed.group(1))) == DIMENSIONS
    for attribute in SPAN_ATTRIBUTES:
        assert f"{attribute}=" in REPORTING, attribute


def query_problems(query: str) -> list[str]:
    """What a query names that the app does not emit."""
    known_dimensions = set(DIMENSIONS) | set(SPAN_ATTRIBUTES) | {
        d for m in METRICS.values() for d in m.dimensions}
    spans = use_case_spans() | invocation_spans()
    problems = []
    # A table is a word on a line of its own that continues no list (a query, a union's leg,
    # a join's right side).
    lines = query.splitlines()
    tables = {line.strip().lstrip("(") for n, line in enumerate(lines)
              if re.fullmatch(r"\(?\w+", line.strip())
              and not (n and lines[n - 1].rstrip().endswith(","))} - {"union"}
    if not tables:
        problems.append("no table")
    problems += [f"table {t}" for t in tables
                 if t not in {"dependencies", "traces", "customMetrics", "requests"}]
    problems += [f"dimension {d}" for d in re.findall(r"customDimensions\.(\w+)", query)
                 if d not in known_dimensions]
    problems += [f"name {n}" for n in re.findall(r'name == "([^"]+)"', query)
                 if n not in METRICS and n not in spans]
    for group in re.findall(r"name in \(([^)]*)\)", query):
        problems += [f"span {n}" for n in re.findall(r'"([^"]+)"', group) if n not in spans]
    return problems


def test_the_queries_name_only_what_the_app_emits():
    blocks = kusto_blocks()
    assert len(blocks) == 3
    assert [query_problems(q) for q in blocks] == [[], [], []]


def test_the_query_check_catches_a_misspelt_table_dimension_metric_and_span():
    query = kusto_blocks()[2]
    assert query_problems(query.replace("customMetrics\n", "customMetric\n", 1)) == \
        ["table customMetric"]
    assert query_problems(query.replace("customDimensions.feature", "customDimensions.feat",
                                        1)) == ["dimension feat"]
    assert query_problems(query.replace("autopilot.drift.value", "autopilot.drift.values")) == \
        ["name autopilot.drift.values"]
    why = kusto_blocks()[1]
    assert query_problems(why.replace('"drift_alert"', '"drift_alerts"')) == \
        ["span drift_alerts"]
