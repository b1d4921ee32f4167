"""A self-contained HTML report of a drift result: inline CSS and SVG, no scripts, no network.

Layout: a summary (overall verdict, row counts, per-signal breaches, notes), a table of every
feature sorted by severity, then one card per drift feature with the reference and production
distributions overlaid (histogram for numerical, bars for categorical), its metrics against
their thresholds, and the notes the engine left. Data quality follows as a table, and the
model's performance on labelled data (when ground truth has arrived) closes the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from core.drift import metrics as registry
from core.drift.result import Distribution, DriftResult, FeatureResult, MetricValue

REF_COLOR = "#4e79a7"
PROD_COLOR = "#f28e2b"
BAD = "#c0392b"
GOOD = "#2e7d32"

_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;
 background:#f5f6f8;color:#1f2933;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.muted{color:#66707a}.small{font-size:12px}
.summary{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;
 margin:16px 0}
.tile{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002;
 min-width:0;overflow-wrap:anywhere;line-height:1.3}
.tile b{display:block;font-size:20px;margin-top:4px;line-height:1.25}
.tile b .pill{font-size:12px;line-height:1.6;white-space:normal}
.verdict{color:#fff}.verdict.bad{background:#c0392b}.verdict.ok{background:#2e7d32}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden;
 box-shadow:0 1px 2px #0002}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #eceff1;vertical-align:top;
 overflow-wrap:break-word}
td:first-child{overflow-wrap:anywhere}
th{background:#eef1f4;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;color:#fff;
 white-space:nowrap}
.pill.bad{background:#c0392b}.pill.ok{background:#2e7d32}.pill.info{background:#78909c}
.pill.skip{background:#b0bec5;color:#263238}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(540px,100%),1fr));
 gap:14px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0002}
.card.bad{border-left:4px solid #c0392b}.card.ok{border-left:4px solid #2e7d32}
.card{min-width:0}
.card h3{margin:0 0 6px;font-size:15px;display:flex;justify-content:space-between;gap:8px;
 align-items:flex-start}
.card h3>span:first-child{min-width:0;overflow-wrap:anywhere}
.card h3 .pill{flex-shrink:0}
.card ul{margin:6px 0 0;padding-left:18px;color:#5d4037;font-size:12px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:2px}
.metrics td{padding:3px 8px;font-size:13px}
.metrics td:nth-child(3),.metrics td:nth-child(4){white-space:nowrap}
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    a = abs(v)
    if a >= 1e5 or a < 1e-4:
        return f"{v:.3e}"
    return f"{v:.4f}".rstrip("0").rstrip(".") if a < 100 else f"{v:.1f}"


def _status(f: FeatureResult) -> tuple[str, str]:
    if f.skipped:
        return "skip", "skipped"
    if f.breached:
        return "bad", "drift" if f.metrics and registry.get(
            f.metrics[0].metric).kind == "drift" else "breach"
    return "ok", "ok"


def _metric_row(m: MetricValue) -> str:
    spec = registry.get(m.metric)
    op = "&lt;" if m.direction == "below" else "&gt;"
    if m.threshold is None:
        verdict = '<span class="pill info">info</span>'
        rule = f'<span class="muted">default {op} {_fmt(spec.default_threshold)}</span>'
    else:
        verdict = ('<span class="pill bad">breached</span>' if m.breached
                   else '<span class="pill ok">ok</span>')
        rule = f"breach if {op} {_fmt(m.threshold)}"
    effect = ""
    if m.effect_size is not None:
        effect = (f' <span class="muted small">({_e(m.effect_size_name)} '
                  f"{_fmt(m.effect_size)})</span>")
    count = f' <span class="muted small">({m.count} values)</span>' if m.count else ""
    return (
        f"<tr><td>{_e(spec.label)}</td><td class=num><b>{_fmt(m.value)}</b>{effect}{count}</td>"
        f"<td>{rule}</td><td>{verdict}</td></tr>"
    )


# A histogram is drawn on a log scale of shares when one bin holds more than this share of
# either side's rows while other bins hold some: a skewed feature (a log-normal amount puts
# nine rows in ten in the first of Azure's equal-width bins) then still shows its tail.
SKEWED_SHARE = 0.5


def log_scale_for(ref: list[float], prod: list[float]) -> bool:
    """Whether a histogram of these per-bin shares is drawn on a log scale (see
    SKEWED_SHARE): one bin dominates and at least two others are not empty."""
    shares = [*ref, *prod]
    if not shares or max(shares) <= SKEWED_SHARE:
        return False
    occupied = {i for i, v in enumerate(ref) if v > 0} | {i for i, v in enumerate(prod) if v > 0}
    return len(occupied) >= 3


def _nice_step(top: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about four grid lines to `top`."""
    raw = top / 4
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _histogram_svg(d: Distribution, width: int = 520, height: int = 190) -> str:
    ref = [c / d.reference_total if d.reference_total else 0 for c in d.reference]
    prod = [c / d.production_total if d.production_total else 0 for c in d.production]
    left, right, top, bottom = 46, 10, 10, 34
    pw, ph = width - left - right, height - top - bottom
    k = len(ref)
    edges = list(d.edges)
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    log_y = log_scale_for(ref, prod)
    if log_y:
        smallest = min(v for v in (*ref, *prod) if v > 0)
        # From a decade at or below the smallest share to 100% (log_y implies shares < 1).
        decades = max(1, math.ceil(-math.log10(smallest) - 1e-9))
        grid = [10.0 ** -i for i in range(decades, -1, -1)]
        step = 1.0

        def height_of(v: float) -> float:
            return 0.0 if v <= 0 else max(ph * (1 + math.log10(v) / decades), 1.0)
    else:
        ymax = max([*ref, *prod, 1e-12])
        step = _nice_step(ymax)
        grid = [step * i for i in range(math.ceil(ymax / step - 1e-9) + 1)]
        ytop = grid[-1] or 1.0

        def height_of(v: float) -> float:
            return ph * v / ytop
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for g in grid:  # grid and y labels
        y = top + ph - (height_of(g) if g > 0 else 0.0)
        label = f"{g * 100:g}%" if log_y else f"{g:.0%}" if step >= 0.01 else f"{g:.1%}"
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e3e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
                     f'fill="#66707a">{label}</text>')
    for series, color in ((ref, REF_COLOR), (prod, PROD_COLOR)):
        for i in range(k):
            x0 = left + pw * (edges[i] - lo) / span
            x1 = left + pw * (edges[i + 1] - lo) / span
            h = height_of(series[i])
            parts.append(
                f'<rect x="{x0:.1f}" y="{top + ph - h:.1f}" width="{max(x1 - x0 - 1, 0.8):.1f}" '
                f'height="{h:.1f}" fill="{color}" fill-opacity="0.5" stroke="{color}"/>'
            )
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" '
                 'stroke="#90a4ae"/>')
    ticks = sorted({0, k // 2, k})
    for i in ticks:
        x = left + pw * (edges[i] - lo) / span
        anchor = "start" if i == 0 else ("end" if i == k else "middle")
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 14}" font-size="10" '
                     f'text-anchor="{anchor}" fill="#66707a">{_e(_fmt(edges[i]))}</text>')
    caption = f"{k} bins"
    if log_y:
        busiest = max(range(k), key=lambda i: max(ref[i], prod[i]))
        caption += (f" · log scale: {_fmt(edges[busiest])} to {_fmt(edges[busiest + 1])} "
                    f"holds {ref[busiest]:.0%} of reference, {prod[busiest]:.0%} of "
                    "production")
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" font-size="10" '
                 f'text-anchor="middle" fill="#66707a">{_e(caption)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(d: Distribution, width: int = 520) -> str:
    cats = list(d.categories)
    ref = [c / d.reference_total if d.reference_total else 0 for c in d.reference]
    prod = [c / d.production_total if d.production_total else 0 for c in d.production]
    if d.other_reference or d.other_production:
        cats.append(f"(other {d.total_categories - len(d.categories)})")
        ref.append(d.other_reference / d.reference_total if d.reference_total else 0)
        prod.append(d.other_production / d.production_total if d.production_total else 0)
    row, label_w, top = 18, 150, 4
    height = top + row * len(cats) + 6
    pw = width - label_w - 100
    vmax = max([*ref, *prod, 1e-12])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i, name in enumerate(cats):
        y = top + i * row
        label = name if len(name) <= 22 else name[:21] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" font-size="11" text-anchor="end" '
                     f'fill="#37474f">{_e(label)}</text>')
        for j, (vals, color) in enumerate(((ref, REF_COLOR), (prod, PROD_COLOR))):
            w = pw * vals[i] / vmax
            parts.append(f'<rect x="{label_w}" y="{y + 1 + j * 8}" width="{max(w, 0.5):.1f}" '
                         f'height="7" fill="{color}"/>')
        parts.append(f'<text x="{width - 2}" y="{y + 12}" font-size="10" text-anchor="end" '
                     f'fill="#66707a">{ref[i]:.1%} → {prod[i]:.1%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _card(signal: str, f: FeatureResult) -> str:
    cls, _ = _status(f)
    badge = {"bad": '<span class="pill bad">breached</span>',
             "ok": '<span class="pill ok">ok</span>',
             "skip": '<span class="pill skip">skipped</span>'}[cls]
    chart = ""
    if f.distribution is not None:
        d = f.distribution
        chart = _histogram_svg(d) if d.kind == "histogram" else _bars_svg(d)
        chart = (f'<div class="legend small muted"><span style="background:{REF_COLOR}"></span>'
                 f'reference ({d.reference_total} rows)<span style="background:{PROD_COLOR}">'
                 f"</span>production ({d.production_total} rows)</div>{chart}")
    rows = "".join(_metric_row(m) for m in f.metrics)
    notes = [*f.notes, *(n for m in f.metrics for n in m.notes)]
    note_html = "".join(f"<li>{_e(n)}</li>" for n in dict.fromkeys(notes))
    return (
        f'<div class="card {cls}" id="{_e(signal)}-{_e(f.name)}"><h3><span>{_e(f.name)} '
        f'<span class="muted small">{_e(f.feature_type)} · {_e(signal)}</span></span>{badge}</h3>'
        f'{chart}<table class="metrics">{rows}</table>'
        f'{"<ul>" + note_html + "</ul>" if note_html else ""}</div>'
    )


def _performance_html(record: Mapping[str, Any] | None) -> str:
    """The champion's metrics on the latest labelled data (core.domain.performance's record),
    or nothing when no labels have been joined yet."""
    if not record or "metrics" not in record:
        return ""
    thresholds = record.get("thresholds") or {}
    breached = {b.get("metric") for b in record.get("breaches") or []}
    logged = record.get("logged_metrics") or {}
    rows = []
    for metric, value in (record.get("metrics") or {}).items():
        style = f' style="color:{BAD};font-weight:600"' if metric in breached else ""
        threshold = thresholds.get(metric)
        rows.append(
            f"<tr><td>{_e(metric)}</td><td class=num{style}>{_fmt(value)}</td>"
            f"<td class=num>{'' if threshold is None else _fmt(threshold)}</td>"
            f"<td class=num>{_fmt(logged.get(metric)) if metric in logged else ''}</td></tr>")
    verdict = ("<span class='pill bad'>below threshold</span>" if record.get("breached")
               else "<span class='pill ok'>within thresholds</span>" if thresholds else "")
    return (
        f"<h2>Model performance on labelled data {verdict}</h2>"
        f"<div class='muted small'>model version {_e(record.get('model_version'))} on "
        f"{_e(record.get('labelled_data'))}: {_e(record.get('rows'))} production rows joined "
        "with their ground truth</div>"
        "<table><tr><th>Metric</th><th>Champion</th><th>Threshold</th>"
        f"<th>Logged predictions</th></tr>{''.join(rows)}</table>"
    )


def render_html(result: DriftResult, *, title: str = "Drift report",
                performance: Mapping[str, Any] | None = None) -> str:
    """The report as one HTML string (see the module docstring); `performance`: the latest
    model performance record (core.domain.performance), shown when labels have arrived."""
    verdict = "bad" if result.breached else "ok"
    tiles = [
        f'<div class="tile verdict {verdict}">Overall<b>'
        f'{"Drift detected" if result.breached else "No breach"}</b></div>',
        f'<div class="tile">Reference rows<b>{result.rows_reference:,}</b></div>',
        f'<div class="tile">Production rows<b>{result.rows_production:,}</b></div>',
    ]
    for s in result.signals:
        n_b = sum(1 for f in s.features if f.breached)
        cls = "bad" if s.breached else "ok"
        tiles.append(
            f'<div class="tile">{_e(s.name.replace("_", " "))}<b>'
            f'<span class="pill {cls}">{n_b} of {len(s.features)} breached</span></b></div>'
        )
    notes = list(result.notes)
    sampling = result.sampling
    if sampling:
        notes.insert(0, f"sampled {sampling.rows_used:,} of {sampling.rows_total:,} production "
                     f"rows (seed {sampling.seed})")
    for c, why in result.excluded.items():
        notes.append(f"column {c!r} left out: {why}")
    if result.extra_columns:
        notes.append(f"production columns not in the reference: {', '.join(result.extra_columns)}")
    notes.append(f"parity: {result.parity}; values stored as {result.value_precision}")
    for s in result.signals:
        notes.extend(f"{s.name}: {n}" for n in s.notes)
    for d in result.all_departures():
        where = "/".join(x for x in (d.signal, d.feature, d.metric) if x)
        notes.append(f"departure from Azure {d.code} [{where}]: {d.detail}")

    drift_features = [
        (s.name, f) for s in result.signals if s.name != "data_quality" for f in s.features
    ]
    drift_features.sort(key=lambda sf: (not sf[1].breached, sf[1].skipped, -sf[1].severity))
    table_rows = []
    for signal, f in drift_features:
        cls, label = _status(f)
        cells = []
        for m in f.metrics:
            mark = f' style="color:{BAD};font-weight:600"' if m.breached else ""
            cells.append(f"<span{mark}>{_e(registry.get(m.metric).label)}: {_fmt(m.value)}</span>")
        table_rows.append(
            f'<tr><td><a href="#{_e(signal)}-{_e(f.name)}">{_e(f.name)}</a></td>'
            f"<td>{_e(f.feature_type)}</td><td>{_e(signal)}</td>"
            f'<td>{"<br>".join(cells) or "—"}</td>'
            f'<td><span class="pill {cls}">{label}</span></td></tr>'
        )
    quality = result.signal("data_quality")
    quality_html = ""
    if quality is not None:
        names = [m for m in registry.QUALITY_METRICS
                 if any(f.metric(m) for f in quality.features)]
        head = "".join(f"<th>{_e(registry.get(m).label)}</th>" for m in names)
        body = []
        q_feats = sorted(quality.features, key=lambda f: (not f.breached, f.name))
        for f in q_feats:
            tds = []
            for name in names:
                qm = f.metric(name)
                if qm is None:
                    tds.append("<td></td>")
                    continue
                style = f' style="color:{BAD};font-weight:600"' if qm.breached else ""
                thr = ("" if qm.threshold is None
                       else f' <span class="muted small">/ {_fmt(qm.threshold)}</span>')
                tds.append(f"<td class=num{style}>{_fmt(qm.value)}{thr}</td>")
            notes_td = "; ".join(f.notes)
            body.append(f"<tr><td>{_e(f.name)}</td><td>{_e(f.feature_type)}</td>{''.join(tds)}"
                        f'<td class="small muted">{_e(notes_td)}</td></tr>')
        quality_html = (
            f"<h2>Data quality <span class='muted small'>{quality.rows_production:,} production "
            "rows · value / threshold</span></h2>"
            f"<table><tr><th>Feature</th><th>Type</th>{head}<th>Notes</th></tr>"
            f"{''.join(body)}</table>"
        )
    cards = "".join(_card(s, f) for s, f in drift_features)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width'><title>{_e(title)}</title>"
        f"<style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1><div class='muted'>Reference vs production · "
        f"metrics as Azure ML model monitoring computes them</div>"
        f"<div class=summary>{''.join(tiles)}</div>"
        f"<ul class='small muted'>{''.join(f'<li>{_e(n)}</li>' for n in notes)}</ul>"
        "<h2>Features by severity</h2>"
        "<table><tr><th>Feature</th><th>Type</th><th>Signal</th><th>Metrics</th>"
        f"<th>Status</th></tr>{''.join(table_rows)}</table>"
        f"<h2>Distributions</h2><div class=cards>{cards}</div>"
        f"{quality_html}{_performance_html(performance)}</main></body></html>"
    )
