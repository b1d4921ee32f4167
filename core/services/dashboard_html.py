"""The dashboard's HTML: one self-contained page (inline CSS and SVG, no scripts, fonts or
external URLs: users open it inside their network) for all models, and one per model.

Every string that comes from users or their data (model, feature and file names, reasons,
messages) goes through `_e` (HTML-escaped, quotes included) and, inside links, `_q` (URL
quoted) first. Links point at this app's own routes under /api and carry the function key
(`code`) the page was opened with, so they open without asking for it again.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import numpy as np

from core.domain.trends import Series, TrendPoint, series, status_of_code, worst
from core.drift import metrics as registry

if TYPE_CHECKING:  # core.services.dashboard renders with this module
    from core.services.dashboard import ModelPage, ModelRow

API = "/api"
BATCHES_LISTED = 50
DRIFT_SIGNALS = ("data_drift", "prediction_drift")

COLOR = {"ok": "#2e7d32", "warning": "#e08a00", "breach": "#c0392b", "info": "#78909c",
         "undefined": "#b0bec5"}
LINE = "#4e79a7"

# What an operator does about each rejection (core.domain.validation's codes).
_FIX = {
    "wrong_delimiter": "save the file comma-separated (or as Parquet/JSON lines) and upload "
                       "it again",
    "missing_columns": "add the columns the reference data has (names as in the reference) "
                       "and upload again; a renamed column needs a new reference version",
    "wrong_type": "fix the values of that column (the reference's type) and upload again",
    "encoding": "save the file as UTF-8 and upload again",
    "line_endings": "use one kind of line ending throughout and upload again",
    "ragged_row": "give every row the header's number of fields and upload again",
    "empty_line": "remove empty lines and upload again",
    "empty_file": "upload the file with its rows (it was empty)",
    "no_rows": "upload the file with its rows (only a header arrived)",
    "malformed_header": "write one header line of column names and upload again",
    "unparseable": "check that the file is what its extension says and upload again",
    "malformed_record": "fix the record on that line (one JSON object per line)",
    "data_in_blob": "send the data rows, not a pointer to them",
    "unsupported_path": "upload under <model>/ (see the README's inference layout)",
}
_FIX_DEFAULT = ("fix the file and upload it again, or replay the ingestion "
                "(POST /api/models/<model>/ingestions/<id>/replay) once its cause is fixed")

_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;
 background:#f5f6f8;color:#1f2933;font-size:14px}
main{max-width:1240px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:17px;margin:28px 0 10px}h3{font-size:14px;margin:0}
a{color:#1f5fa8}.muted{color:#66707a}.small{font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden;
 box-shadow:0 1px 2px #0002}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #eceff1;vertical-align:top;
 overflow-wrap:anywhere}
th{background:#eef1f4;font-weight:600;font-size:12px;text-transform:uppercase;
 letter-spacing:.03em;overflow-wrap:normal}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;color:#fff;
 white-space:nowrap}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px;
 margin:16px 0}
.tile{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002;
 min-width:0}
.tile .label{display:block;font-size:12px;color:#66707a;white-space:nowrap;overflow:hidden;
 text-overflow:ellipsis}
.tile .value{display:block;font-size:18px;font-weight:600;margin-top:4px;
 overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(380px,100%),1fr));gap:12px}
.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002;
 border-left:4px solid #cfd8dc;min-width:0}
.card.breach{border-left-color:#c0392b}.card.warning{border-left-color:#e08a00}
.card.ok{border-left-color:#2e7d32}
.card header{display:flex;justify-content:space-between;gap:8px;align-items:baseline}
.card header h3{overflow-wrap:anywhere;min-width:0}
.chart-label{font-size:12px;color:#37474f;margin:6px 0 0}
/* A value and its threshold wrap as wholes: never "threshold" on one line, its number on
   the next (longer calibrated thresholds did at 420 px). */
.chart-label b,.chart-label .muted{white-space:nowrap}
.legend{font-size:11px;color:#66707a}
.legend i{display:inline-block;width:14px;height:0;border-top:2px solid;margin:0 4px 3px 10px;
 vertical-align:middle}
.legend i.dash{border-top-style:dashed}
nav{font-size:13px;margin-bottom:10px}
ul.notes{color:#66707a;font-size:12px;margin:6px 0}
"""


# ------------------------------------------------------------------ small helpers


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _q(x: object) -> str:
    return quote(str(x), safe="")


def _link(path: str, key: str | None, **params: str) -> str:
    """An escaped href to one of this app's routes, carrying the function key."""
    query = {k: v for k, v in params.items() if v is not None}
    if key:
        query["code"] = key
    return _e(f"{API}/{path}" + (f"?{urlencode(query)}" if query else ""))


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if v == 0:
        return "0"
    if math.isinf(v) or math.isnan(v):
        return str(v)
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4f}".rstrip("0").rstrip(".") if a < 100 else f"{v:.1f}"


def _label(metric: str) -> str:
    """A metric's name as the drift report writes it (others: underscores as spaces)."""
    spec = registry.REGISTRY.get(metric)
    return spec.label if spec is not None else metric.replace("_", " ")


def _pill(status: str, text: str | None = None) -> str:
    color = COLOR.get(status, "#78909c")
    return f'<span class="pill" style="background:{color}">{_e(text or status)}</span>'


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
            f"{body}</main></body></html>")


def _tile(label: str, value_html: str) -> str:
    return (f'<div class="tile"><span class="label" title="{_e(label)}">{_e(label)}</span>'
            f'<span class="value">{value_html}</span></div>')


# ------------------------------------------------------------------ charts


def _points(xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float | None]]:
    return [(x, None if y != y or y in (math.inf, -math.inf) else y)
            for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]


def _columns(s: Series, columns: int) -> tuple[list[tuple[float, float | None]],
                                                list[tuple[float, float | None]],
                                                list[tuple[float, float, str, int]]]:
    """The series in at most `columns` x positions (fractions of the width): values as a
    low-high envelope per column, thresholds as the column's highest, and one marker per
    column holding a breach (else a warning) at its worst value, with the first batch of the
    column that has it."""
    values = np.where(np.isfinite(s.value_array), s.value_array, np.nan)
    thresholds = np.where(np.isfinite(s.threshold_array), s.threshold_array, np.nan)
    codes = np.frombuffer(s.codes.encode(), dtype=np.uint8)
    n = len(codes)
    if n <= columns:
        xs = np.arange(n) / (n - 1) if n > 1 else np.full(n, 0.5)
        marked = np.flatnonzero(((codes == ord("b")) | (codes == ord("w"))) & ~np.isnan(values))
        return (_points(xs, values), _points(xs, thresholds),
                [(float(xs[i]), float(values[i]), chr(codes[i]), int(i)) for i in marked])
    starts = (np.arange(columns) * n) // columns
    xs = np.arange(columns) / (columns - 1)
    with np.errstate(invalid="ignore"):
        low = np.fmin.reduceat(values, starts)
        high = np.fmax.reduceat(values, starts)
        top = np.fmax.reduceat(thresholds, starts)
    envelope = [p for pair in zip(_points(xs, low), _points(xs, high), strict=True)
                for p in pair]
    marks: list[tuple[float, float, str, int]] = []
    for letter in ("b", "w"):
        hit = (codes == ord(letter)) & ~np.isnan(values)
        if not hit.any():
            continue
        worst_value = np.fmax.reduceat(np.where(hit, values, np.nan), starts)
        first = np.maximum.reduceat(np.where(hit, -np.arange(n), -n), starts)
        for col in np.flatnonzero(~np.isnan(worst_value)):
            if letter == "w" and any(m[0] == xs[col] for m in marks):
                continue  # a breach in the column already marks it
            marks.append((float(xs[col]), float(worst_value[col]), letter, int(-first[col])))
    return envelope, _points(xs, top), marks


def line_chart(s: Series, *, width: int = 360, height: int = 110, axis: bool = True) -> str:
    """One series over batches (x: batch order), its threshold dashed, breaches and warnings
    marked; gaps where a value is undefined. More batches than pixels: each pixel column
    shows the lowest and highest value of its batches, and its worst status."""
    left, right, top, bottom = (40, 6, 6, 16) if axis else (2, 2, 3, 3)
    pw, ph = width - left - right, height - top - bottom
    both = np.concatenate([s.value_array, s.threshold_array])
    finite = both[np.isfinite(both)]
    lo = min(0.0, float(finite.min())) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if hi <= lo:
        hi = lo + 1.0
    hi = lo + (hi - lo) * 1.08
    n = len(s.codes)
    values, thresholds, marks = _columns(s, pw)

    def x(frac: float) -> float:
        return left + pw * frac

    def y(v: float) -> float:
        return top + ph - ph * (v - lo) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} '
             f'{height}" role="img" aria-label="{_e(s.feature)} {_e(s.metric)}">']
    if axis:
        for frac in (0.0, 0.5, 1.0):
            v = lo + (hi - lo) * frac / 1.08 if frac else lo
            parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                         'stroke="#e3e7eb"/>')
            parts.append(f'<text x="{left - 4}" y="{y(v) + 3:.1f}" font-size="9" '
                         f'text-anchor="end" fill="#66707a">{_e(_fmt(v))}</text>')
    # The threshold is drawn over the values: a band of values never hides it.
    for run in _runs(values):
        if len(run) == 1:
            f, v = run[0]
            parts.append(f'<circle cx="{x(f):.1f}" cy="{y(v):.1f}" r="2" fill="{LINE}"/>')
        else:
            pts = " ".join(f"{x(f):.1f},{y(v):.1f}" for f, v in run)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{LINE}" '
                         'stroke-width="1.5"/>')
    for run in _runs(thresholds):
        pts = " ".join(f"{x(f):.1f},{y(v):.1f}" for f, v in run)
        if len(run) == 1:
            f, v = run[0]
            pts = f"{x(f) - 3:.1f},{y(v):.1f} {x(f) + 3:.1f},{y(v):.1f}"
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{COLOR["breach"]}" '
                     'stroke-width="1" stroke-dasharray="4 3"/>')
    for f, v, code, i in marks:
        status = status_of_code(code)
        parts.append(f'<circle cx="{x(f):.1f}" cy="{y(v):.1f}" r="2.6" '
                     f'fill="{COLOR[status]}"><title>{_e(_when(s.at[i]))}: {_e(_fmt(v))} '
                     f'({_e(status)})</title></circle>')
    if axis and n:
        parts.append(f'<text x="{left}" y="{height - 3}" font-size="9" fill="#66707a">'
                     f'{_e(_when(s.at[0]))}</text>')
        if n > 1:
            parts.append(f'<text x="{left + pw}" y="{height - 3}" font-size="9" '
                         f'text-anchor="end" fill="#66707a">{_e(_when(s.at[-1]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """The points split where a value is missing or not finite (a gap in the line)."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for f, v in points:
        if v is None or not math.isfinite(v):
            if current:
                runs.append(current)
            current = []
        else:
            current.append((f, v))
    if current:
        runs.append(current)
    return runs


_LEGEND = (f'<div class="legend"><i style="border-color:{LINE}"></i>value'
           f'<i class="dash" style="border-color:{COLOR["breach"]}"></i>threshold'
           f'<span style="color:{COLOR["breach"]}"> ● breach</span>'
           f'<span style="color:{COLOR["warning"]}"> ● warning</span></div>')


def _judged(s: Series) -> bool:
    return bool((~np.isnan(s.threshold_array)).any())


def _feature_cards(all_series: Iterable[Series]) -> str:
    by_feature: dict[tuple[str, str], list[Series]] = {}
    for s in all_series:
        by_feature.setdefault((s.signal, s.feature), []).append(s)
    cards = []
    for (signal, feature), group in by_feature.items():
        judged = [s for s in group if _judged(s)] or group[:1]
        status = worst(s.latest_status for s in judged)
        charts = "".join(
            f'<div class="chart-label">{_e(_label(s.metric))}: latest '
            f'<b>{_e(_fmt(s.latest_value))}</b>'
            + (f' <span class="muted">threshold {_e(_fmt(s.latest_threshold))}</span>'
               if s.latest_threshold is not None else ' <span class="muted">(no threshold)'
               '</span>')
            + f"</div>{line_chart(s)}" for s in judged)
        cards.append((status, feature, (
            f'<div class="card {_e(status)}"><header><h3>{_e(feature)} '
            f'<span class="muted small">{_e(signal)}</span></h3>{_pill(status)}</header>'
            f"{charts}</div>")))
    order = {"breach": 0, "warning": 1, "ok": 2, "info": 3, "undefined": 4}
    cards.sort(key=lambda c: (order.get(c[0], 5), c[1]))
    return "".join(c[2] for c in cards)


def _quality_table(all_series: Iterable[Series]) -> str:
    rows: dict[str, dict[str, Series]] = {}
    metrics: list[str] = []
    for s in all_series:
        rows.setdefault(s.feature, {})[s.metric] = s
        if s.metric not in metrics:
            metrics.append(s.metric)
    if not rows:
        return '<p class="muted">No data quality results yet.</p>'
    head = "".join(f"<th>{_e(_label(m))}</th>" for m in metrics)
    body = []
    for feature in sorted(rows, key=lambda f: (
            worst(one.latest_status for one in rows[f].values()) != "breach", f)):
        cells = []
        for m in metrics:
            found = rows[feature].get(m)
            if found is None:
                cells.append("<td></td>")
                continue
            s = found
            threshold = s.latest_threshold
            color = COLOR.get(s.latest_status, "#1f2933")
            cells.append(
                f'<td><div style="color:{color};font-weight:600">{_e(_fmt(s.latest_value))}'
                + (f' <span class="muted small">/ {_e(_fmt(threshold))}</span>'
                   if threshold is not None else "")
                + f"</div>{line_chart(s, width=200, height=34, axis=False)}</td>")
        body.append(f"<tr><td>{_e(feature)}</td>{''.join(cells)}</tr>")
    return (f"<table><tr><th>Feature</th>{head}</tr>{''.join(body)}</table>"
            '<div class="legend">latest value / threshold, then every batch (dashed: the '
            "threshold)</div>")


def alert_timeline(alerts: Sequence[Mapping[str, Any]], start: float, end: float,
                   width: int = 1180, height: int = 46) -> str:
    """Alerts on a time axis from `start` to `end`, coloured by decision."""
    left, right = 8, 8
    span = (end - start) or 1.0
    colors = {"requested": COLOR["breach"], "suppressed": COLOR["warning"],
              "ignored": COLOR["info"], "unmapped": "#8e44ad", "received": LINE}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} '
             f'{height}" role="img" aria-label="alert timeline">',
             f'<line x1="{left}" x2="{width - right}" y1="20" y2="20" stroke="#b0bec5"/>']
    for a in alerts:
        at = float(a.get("received_at") or start)
        cx = left + (width - left - right) * min(max((at - start) / span, 0.0), 1.0)
        status = str(a.get("status", ""))
        parts.append(f'<circle cx="{cx:.1f}" cy="20" r="6" fill="{colors.get(status, LINE)}" '
                     f'fill-opacity="0.85"><title>{_e(_when(at))} {_e(status)}: '
                     f'{_e(a.get("reason", ""))}</title></circle>')
    parts.append(f'<text x="{left}" y="{height - 4}" font-size="10" fill="#66707a">'
                 f'{_e(_when(start))}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 4}" font-size="10" '
                 f'text-anchor="end" fill="#66707a">{_e(_when(end))}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span style="color:{c}"> ● {_e(s)}</span>' for s, c in colors.items())
    return "".join(parts) + f'<div class="legend">{legend}</div>'


# ------------------------------------------------------------------ the overview


def render_overview(rows: Sequence[ModelRow], *, now: float, key: str | None = None) -> str:
    breaching = sum(1 for r in rows if r.latest is not None and r.latest.status == "breach")
    quarantined = sum(r.quarantined for r in rows)
    open_requests = sum(1 for r in rows if r.gate.get("open_request"))
    tiles = "".join((
        _tile("Models", str(len(rows))),
        _tile("Latest batch breached", _pill("breach" if breaching else "ok", str(breaching))),
        _tile("Open retraining requests", str(open_requests)),
        _tile("Quarantined files", _pill("warning" if quarantined else "ok", str(quarantined))),
    ))
    body = []
    for r in rows:
        monitor = r.monitor or {}
        state = str(monitor.get("status") or "no monitor")
        if monitor and monitor.get("enabled") is False:
            state += " (disabled)"
        schedule = monitor.get("schedule") or ""
        latest = r.latest
        if latest is None:
            batch = '<span class="muted">no batch recorded yet</span>'
            status = '<span class="muted">—</span>'
            breached = ""
        else:
            report = (f' · <a href="{_link(f"models/{_q(r.model)}/drift/report", key, ingestion=latest.ingestion)}">report</a>'  # noqa: E501
                      if latest.ingestion and latest.kind == "early_check" else "")
            batch = (f"{_e(_when(latest.at))} <span class='muted small'>{_e(latest.kind)} · "
                     f"{_e(latest.data)}</span>{report}")
            status = _pill(latest.status)
            names = latest.breached_features()
            breached = _e(", ".join(names[:6]) + (f" and {len(names) - 6} more"
                                                  if len(names) > 6 else ""))
        request = r.gate.get("open_request")
        body.append(
            f'<tr><td><a href="{_link(f"dashboard/{_q(r.model)}", key)}">{_e(r.model)}</a></td>'
            f"<td>{_e(state)}<div class='muted small'>{_e(schedule)}</div></td>"
            f"<td>{batch}</td><td>{status}</td><td class=small>{breached}</td>"
            f"<td>{_e(request) if request else '<span class=muted>none</span>'}</td>"
            f"<td class=num>{r.quarantined}</td></tr>")
    table = ("<table><tr><th>Model</th><th>Monitor</th><th>Latest batch</th><th>Status</th>"
             "<th>Breached features</th><th>Open retraining</th><th>Quarantined</th></tr>"
             f"{''.join(body)}</table>" if rows else
             '<p class="muted">No model has a monitor, a batch or a quarantined file yet.</p>')
    return _page("Monitor Autopilot dashboard", (
        "<h1>Monitor Autopilot</h1>"
        f"<div class='muted'>Every model, its monitor and its latest batch · {_e(_when(now))} "
        "UTC</div>"
        f"<div class=tiles>{tiles}</div>{table}"))


# ------------------------------------------------------------------ one model


def render_model(page: ModelPage, *, now: float, key: str | None = None) -> str:
    model = page.model
    points = page.points
    checked = series(points, kinds=("early_check", "monitor_run"))
    drift = [s for s in checked if s.signal in DRIFT_SIGNALS]
    quality = [s for s in checked if s.signal == "data_quality"]
    performance = series(points, kinds=("performance",))
    batches = [p for p in points if p.kind != "performance"]
    latest = batches[-1] if batches else None
    monitor = page.monitor or {}
    state = str(monitor.get("status") or "no monitor")
    if monitor and monitor.get("enabled") is False:
        state += " (disabled)"
    tiles = "".join((
        _tile("Monitor", _e(state)),
        _tile("Batches recorded", str(len(batches))),
        _tile("Latest batch", _pill(latest.status) if latest else "—"),
        _tile("Breaches in a row", str(page.gate.get("consecutive", 0))),
        _tile("Open retraining", _e(page.gate.get("open_request") or "none")),
        _tile("Quarantined files", str(page.quarantined)),
    ))
    out = [f'<nav><a href="{_link("dashboard", key)}">← all models</a></nav>',
           f"<h1>{_e(model)}</h1>",
           f"<div class='muted'>Trends over every batch · {_e(_when(now))} UTC",
           (f" · monitor {_e(monitor.get('monitor'))}, {_e(monitor.get('schedule') or '')}"
            if monitor.get("monitor") else ""), "</div>",
           f"<div class=tiles>{tiles}</div>"]
    if page.notes:
        out.append("<ul class=notes>" + "".join(f"<li>{_e(n)}</li>" for n in page.notes)
                   + "</ul>")
    out.append("<h2>Drift of each feature over batches</h2>")
    out.append(_LEGEND + (f"<div class=grid>{_feature_cards(drift)}</div>" if drift else
                          '<p class="muted">No drift results recorded yet.</p>'))
    out.append("<h2>Data quality over batches</h2>")
    out.append(_quality_table(quality))
    out.append("<h2>Model performance on labelled data</h2>")
    if performance:
        out.append(_LEGEND + "<div class=grid>" + "".join(
            f'<div class="card {_e(s.latest_status)}"><header><h3>{_e(s.metric)}</h3>'
            f"{_pill(s.latest_status)}</header>"
            f'<div class="chart-label">latest <b>{_e(_fmt(s.latest_value))}</b>'
            + (f' <span class="muted">threshold {_e(_fmt(s.latest_threshold))}</span>'
               if s.latest_threshold is not None else "")
            + f"</div>{line_chart(s)}</div>" for s in performance) + "</div>")
    else:
        out.append('<p class="muted">No labelled data yet (ground truth joins to the '
                   "collected inputs by correlation id).</p>")
    out.append(_alerts_html(page, points, now))
    out.append(_retraining_html(page.retraining))
    out.append(_quarantine_html(page, key))
    out.append(_batches_html(model, batches, key))
    return _page(f"{model}: Monitor Autopilot", "".join(out))


def _evidence_features(evidence: Mapping[str, Any]) -> str:
    found = []
    for b in evidence.get("breaches") or evidence.get("features") or []:
        if isinstance(b, Mapping):
            name = b.get("feature") or b.get("name")
            if name is None:
                continue
            value = b.get("value")
            found.append(f"{name}" + (f" {b.get('metric', '')} {_fmt(value)}".rstrip()
                                      if value is not None else ""))
        elif isinstance(b, str):
            found.append(b)
    return "; ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")


def _alerts_html(page: ModelPage, points: Sequence[TrendPoint], now: float) -> str:
    alerts = page.alerts
    if not alerts:
        return "<h2>Alerts</h2><p class='muted'>No alert received.</p>"
    times = [float(a.get("received_at") or now) for a in alerts] + [p.at for p in points[:1]]
    rows = []
    for a in alerts:
        status = str(a.get("status", ""))
        pill = {"requested": "breach", "suppressed": "warning"}.get(status, "info")
        evidence = a.get("evidence") if isinstance(a.get("evidence"), Mapping) else {}
        rows.append(
            f"<tr><td class=num>{_e(_when(a.get('received_at')))}</td>"
            f"<td>{_pill(pill, status)}</td><td>{_e(a.get('reason', ''))}"
            f"<div class='muted small'>{_e(a.get('code') or '')}</div></td>"
            f"<td class=small>{_e(_evidence_features(evidence or {}))}</td>"
            f"<td class=small>{_e(a.get('request_id') or '')}</td></tr>")
    return ("<h2>Alerts: each decision and its reason</h2>"
            + alert_timeline(alerts, min(times), max(max(times), now))
            + "<table><tr><th>Received</th><th>Decision</th><th>Reason</th>"
            "<th>Evidence</th><th>Request</th></tr>" + "".join(rows) + "</table>")


def _scores(scores: object) -> str:
    if not isinstance(scores, Mapping):
        return ""
    return "<br>".join(f"{_e(k)} {_e(_fmt(v))}" for k, v in sorted(scores.items()))


def _retraining_html(history: Sequence[Mapping[str, Any]]) -> str:
    if not history:
        return "<h2>Retraining</h2><p class='muted'>No retraining requested.</p>"
    rows = []
    for r in history:
        status = str(r.get("status", ""))
        pill = {"registered": "ok", "rejected": "warning", "failed": "breach"}.get(status,
                                                                                   "info")
        version = r.get("new_version")
        rows.append(
            f"<tr><td class=num>{_e(_when(r.get('created_at')))}</td>"
            f"<td>{_pill(pill, status)}"
            + (f"<div class=small>new version {_e(version)}</div>" if version else "")
            + f"</td><td class=small>{_e(r.get('reason', ''))}</td>"
            f"<td class='small num'>{_scores(r.get('champion_scores'))}</td>"
            f"<td class='small num'>{_scores(r.get('challenger_scores'))}</td>"
            f"<td class=small>{_e(r.get('decision') or r.get('error') or '')}"
            f"<div class=muted>{_e(r.get('code') or '')}</div></td></tr>")
    return ("<h2>Retraining: champion against challenger</h2>"
            "<table><tr><th>Requested</th><th>Status</th><th>Why</th><th>Champion</th>"
            "<th>Challenger</th><th>Decision</th></tr>" + "".join(rows) + "</table>")


def _quarantine_html(page: ModelPage, key: str | None) -> str:
    if not page.quarantine:
        return "<h2>Quarantine</h2><p class='muted'>No file quarantined.</p>"
    rows = []
    for r in page.quarantine:
        rej = r.rejection
        code = rej.code if rej else "rejected"
        where = ""
        if rej and (rej.line is not None or rej.column):
            where = " (" + ", ".join(x for x in (
                f"line {rej.line}" if rej.line is not None else "",
                f"column {rej.column}" if rej.column else "") if x) + ")"
        replay = _link(f"models/{_q(page.model)}/ingestions/{_q(r.ingestion_id)}", key)
        rows.append(
            f"<tr><td class=num>{_e(_when(r.updated_at))}</td><td>{_e(r.blob.name)}"
            f"<div class='muted small'><a href=\"{replay}\">{_e(r.ingestion_id)}</a></div></td>"
            f"<td>{_pill('warning', code)}</td>"
            f"<td class=small>{_e(rej.message if rej else r.error or '')}{_e(where)}</td>"
            f"<td class=small>{_e(_FIX.get(code, _FIX_DEFAULT))}</td></tr>")
    return ("<h2>Quarantine: files refused, why, and what to do</h2>"
            "<table><tr><th>When</th><th>File</th><th>Code</th><th>Reason</th>"
            "<th>What to do</th></tr>" + "".join(rows) + "</table>")


def _batches_html(model: str, batches: Sequence[TrendPoint], key: str | None) -> str:
    if not batches:
        return ""
    rows = []
    for p in list(reversed(batches))[:BATCHES_LISTED]:
        breached = p.breached_features()
        link = (f'<a href="{_link(f"models/{_q(model)}/drift/report", key, ingestion=p.ingestion)}">drift report</a>'  # noqa: E501
                if p.ingestion and p.kind == "early_check" else
                '<span class="muted small">kept with the run</span>')
        rows.append(
            f"<tr><td class=num>{_e(_when(p.at))}</td><td>{_e(p.kind)}</td>"
            f"<td>{_e(p.data)}</td><td class=num>{_e(p.rows if p.rows is not None else '')}</td>"
            f"<td>{_pill(p.status)}</td><td class=small>{_e(', '.join(breached))}</td>"
            f"<td>{link}</td></tr>")
    shown = min(len(batches), BATCHES_LISTED)
    return (f"<h2>Batches <span class='muted small'>newest {shown} of {len(batches)}; the "
            "charts show all</span></h2>"
            "<table><tr><th>When</th><th>Kind</th><th>Data</th><th>Rows</th><th>Status</th>"
            "<th>Breached</th><th>Report</th></tr>" + "".join(rows) + "</table>")


__all__ = ["alert_timeline", "line_chart", "render_model", "render_overview"]
