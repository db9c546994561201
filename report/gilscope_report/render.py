"""From the page model (data.py) to one self-contained HTML page.

Everything the page needs is inlined: CSS, JavaScript, and the model as JSON
in a <script type="application/json"> whose '<', '>' and '&' are escaped, so
no string in the data can close the element. A Content-Security-Policy lets
only the page's own script (by hash) run and fetches nothing. Strings from
the database reach the HTML through html.escape() or, in the page's script,
textContent.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, Optional

from . import code
from .data import BINS_PER_DECADE

HERE = Path(__file__).resolve().parent


# Control characters (C0 but tab and line feed, DEL, C1) of names the
# traced program chose: shown as \x1b in the page, never passed raw.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def esc(value: Any) -> str:
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", "" if value is None else str(value))
    return html.escape(text, quote=True)


def fmt_dur(ns: Optional[float], micro: str = "µs", none: str = "—") -> str:
    """A duration in three digits; micro="us" for a terminal (as `gilscope
    summary` writes)."""
    if ns is None:
        return none
    a = abs(ns)
    for unit, scale in (("s", 1e9), ("ms", 1e6), (micro, 1e3)):
        if a >= scale:
            v = ns / scale
            return f"{v:.{0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2}f} {unit}"
    return f"{ns:.0f} ns"


def fmt_count(n: Optional[float]) -> str:
    if n is None:
        return "—"
    return f"{int(n):,}".replace(",", "\u202f")


def fmt_pct(p: Optional[float]) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return f"{p:.1f}%" if p < 99.95 else f"{p:.0f}%"


def fmt_rate(r: Optional[float]) -> str:
    if r is None:
        return "—"
    return f"{r:.0f}" if r >= 10 else f"{r:.1f}"


def json_for_script(obj: Any) -> str:
    """JSON that is safe between <script> tags: no '<', '>' or '&' left."""
    text = json.dumps(_finite(obj), ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _facts(m: Dict[str, Any]) -> str:
    run = m["run"]
    items = []

    def fact(label: str, value: str, cls: str = "") -> None:
        c = f' class="{cls}"' if cls else ""
        items.append(f"<div><dt>{esc(label)}</dt><dd{c}>{value}</dd></div>")

    fact("Python", esc(run.get("python_versions") or "unknown"))
    iv = run.get("interval_us")
    fact("switch interval", esc(fmt_dur(iv * 1000) if iv is not None else "unknown"))
    fact("wall time", esc(fmt_dur(run.get("wall_ns"))))
    if run.get("trace_start") == "snapshot":
        fact("trace starts", esc("at the flight recorder's buffer horizon (a snapshot; "
                                 f"{fmt_count(run.get('before_horizon_events'))} earlier events skipped)"))
    elif run.get("trace_start") == "attach":
        fact("trace starts", esc("when `record --pid` attached: what was open then is clipped"))
    fact("threads", esc(len(m["threads"])))
    fact("events", esc(fmt_count(run.get("event_count"))))
    lost = run.get("lost_events") or 0
    # A loss row of count 0: whole packets lost, or a count LTTng reported
    # that cannot be true (the lost_events finding says which): still lost.
    unknown = any(not l.get("count") for l in m.get("lost") or [])
    shown = (f"{fmt_count(lost)} + unknown" if lost else "unknown") if unknown else fmt_count(lost)
    fact("lost events", esc(shown), "bad" if lost > 0 or unknown else "good")
    if run.get("anomalies"):
        fact("anomalies", esc(fmt_count(run["anomalies"])), "bad")
    if run.get("handoffs_checked") is not None:
        bad = run.get("handoff_mismatches") or 0
        fact("hand-offs checked against CPython's own counter",
             esc(f"{fmt_count(run['handoffs_checked'])}, mismatches {fmt_count(bad)}"),
             "bad" if bad else "good")
    if run.get("exit_status") is not None:
        fact("exit status", esc(run["exit_status"]))
    if run.get("hostname"):
        fact("host", esc(run["hostname"]))
    n_runs = len(m["run_ids"])
    fact("run", esc(f"{run['run_id']}" + (f" (of {n_runs} in the database)" if n_runs > 1 else "")))
    if run.get("analyzed_at"):
        fact("analyzed", esc(run["analyzed_at"]))
    return "".join(items)


def _cards(m: Dict[str, Any]) -> str:
    mt = m.get("metrics") or {}
    wall = mt.get("wall_ns") or m["run"].get("wall_ns")
    cards = []

    def card(value: str, label: str, note: str, warn: bool = False) -> None:
        cls = "card warn" if warn else "card"
        cards.append(f'<div class="{cls}"><div class="v">{esc(value)}</div>'
                     f'<div class="l">{esc(label)}</div><div class="n">{esc(note)}</div></div>')

    card(fmt_pct(mt.get("held_pct")), "GIL held", "share of the wall time some thread held the GIL")
    cont = mt.get("contention_pct")
    card(fmt_pct(cont), "contention", "share of the time at least one thread waited", bool(cont and cont >= 50))
    card(fmt_pct(mt.get("wait_pct")), "time waiting", "all threads' waits added up, over the wall time")
    card(fmt_rate(mt.get("switches_per_s")), "switches / s", f"{fmt_count(mt.get('switches'))} hand-offs between threads")
    card(fmt_count(mt.get("drop_requests")), "drop requests",
         f"{fmt_rate(mt.get('drop_requests_per_s'))}/s · {fmt_count(mt.get('forced_releases'))} forced releases")
    handoff = mt.get("handoff_ns")
    share = f" · {100.0 * handoff / wall:.2f}% of the run" if handoff is not None and wall else ""
    card(fmt_dur(handoff), "hand-off overhead", f"GIL free while a thread waited{share}")
    card(fmt_dur(mt.get("hold_p50_ns")), "median hold", f"p99 {fmt_dur(mt.get('hold_p99_ns'))}")
    card(fmt_dur(mt.get("drop_response_p50_ns")), "drop response",
         f"median request → release · max {fmt_dur(mt.get('drop_response_max_ns'))}")
    return "".join(cards)


def _findings(m: Dict[str, Any]) -> str:
    """The findings as the analyzer wrote them: its title, its text, its
    second sentence. Nothing here composes or derives one."""
    items = []
    for f in m["findings"]:
        kind = f.get("kind") or ""
        cls = re.sub(r"[^a-z_]", "", kind.lower())
        text = esc(f.get("message"))
        if f.get("detail"):
            text += f'<span class="detail">{esc(f["detail"])}</span>'
        items.append(f'<li class="{cls}"><span class="kind">{esc(f.get("title") or kind)}</span>{text}</li>')
    if not items:
        items.append('<li class="none">Nothing stands out: no convoy, slow drop response or heavy '
                     "contention was found in this run.</li>")
    return '<ul class="findings">' + "".join(items) + "</ul>"


THREAD_COLUMNS = (
    # (header, key, numeric, title)
    ("thread", "label", False, "Python thread name, else the kernel thread id"),
    ("tid", "tid", True, "kernel thread id"),
    ("pid", "pid", True, "process id"),
    ("held", "held_ns", True, "time holding the GIL"),
    ("held %", "held_pct", True, "time holding the GIL over the wall time"),
    ("waiting", "wait_ns", True, "time waiting for the GIL"),
    ("wait %", "wait_pct", True, "time waiting over the wall time"),
    ("holds", "holds", True, "times it acquired the GIL"),
    ("waits", "waits", True, "times it requested the GIL and had to wait"),
    ("time-outs", "timeouts", True, "waits that timed out after one switch interval"),
    ("drop req. sent", "drop_requests_issued", True, "drop requests it made"),
    ("drop req. got", "drop_requests_received", True, "drop requests made to it while it held the GIL"),
    ("forced", "forced_releases", True, "times it had to release the GIL on request"),
    ("convoys", "convoys", True, "times it came back from I/O and had to wait for a CPU-bound holder"),
)


def _threads(m: Dict[str, Any]) -> str:
    if not m["threads"]:
        return '<p class="empty">No threads in this run.</p>'
    head = "".join(f'<th class="{"num" if num else "txt"}" title="{esc(title)}">{esc(h)}</th>'
                   for h, _, num, title in THREAD_COLUMNS)
    body = []
    for t in m["threads"]:
        cells = []
        for _, key, num, _ in THREAD_COLUMNS:
            v = t.get(key)
            sort = "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
            if key == "label":
                cells.append(f'<td class="name" data-v="{esc(v)}" title="{esc(v)}">{esc(v)}</td>')
            elif key in ("held_ns", "wait_ns"):
                cells.append(f'<td class="num" data-v="{esc(sort)}">{esc(fmt_dur(v))}</td>')
            elif key in ("held_pct", "wait_pct"):
                width = max(0.0, min(100.0, v or 0.0))
                cls = "hold" if key == "held_pct" else "wait"
                cells.append(f'<td class="num" data-v="{esc(sort)}">{esc(fmt_pct(v))}'
                             f'<span class="pctbar {cls}"><i style="width:{width:.1f}%"></i></span></td>')
            elif key in ("tid", "pid"):
                cells.append(f'<td class="num mono" data-v="{esc(sort)}">{esc(v)}</td>')
            else:
                cells.append(f'<td class="num" data-v="{esc(sort)}">{esc(fmt_count(v))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="threads sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


HIST_TEXT = {
    "hold": ("GIL hold time", "how long a thread kept the GIL, acquire → release"),
    "wait": ("Wait time", "how long a thread waited for the GIL, request → acquire"),
    "gap": ("Hand-off gap", "GIL free while the next thread waited, release → acquire"),
    "drop_response": ("Drop-request response", "drop request → the holder's release"),
}


def _bin_label(b: int) -> str:
    return fmt_dur(10 ** (b / BINS_PER_DECADE)).replace(".00", "").replace(".0 ", " ")


def _hist_svg(h: Dict[str, Any], interval_ns: Optional[int]) -> str:
    title, note = HIST_TEXT.get(h["name"], (h["name"], ""))
    p = h.get("percentiles") or {}
    stats = " · ".join(f"{k} {fmt_dur(p.get(k))}" for k in ("p50", "p90", "p99", "max") if p.get(k) is not None)
    head = (f'<div class="hist"><h3>{esc(title)}</h3><p>{esc(note)}</p>'
            f'<p class="stats">{esc(fmt_count(h["total"]))} samples{" · " + esc(stats) if stats else ""}</p>')
    if not h["bins"]:
        return head + '<p class="empty">no data in this run</p></div>'
    counts = dict((b, c) for b, c in h["bins"])
    lo = min(counts) - 1
    hi = max(counts) + 1
    lo = max(0, lo - lo % BINS_PER_DECADE)  # start and end on a decade, not below 1 ns
    hi += (-hi) % BINS_PER_DECADE
    n = hi - lo
    W, H, L, R, T, B = 640, 210, 46, 26, 26, 26
    pw, ph = W - L - R, H - T - B
    bw = pw / n
    peak = max(counts.values())
    parts = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{esc(title)} histogram">']
    parts.append(f'<line class="axis" x1="{L}" y1="{T + ph}" x2="{L + pw}" y2="{T + ph}"/>')
    for frac in (0.5, 1.0):
        y = T + ph - frac * ph
        parts.append(f'<line class="axis" x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke-dasharray="2 4"/>')
        parts.append(f'<text x="{L - 4}" y="{y + 3:.1f}" text-anchor="end">{esc(fmt_count(peak * frac))}</text>')
    for b in range(lo, hi + 1, BINS_PER_DECADE):
        x = L + (b - lo) * bw
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{T + ph}" x2="{x:.1f}" y2="{T + ph + 4}"/>')
        parts.append(f'<text x="{x:.1f}" y="{T + ph + 15}" text-anchor="middle">{esc(_bin_label(b))}</text>')
    for b in range(lo, hi):
        c = counts.get(b, 0)
        if not c:
            continue
        bh = max(1.0, c / peak * ph)
        x = L + (b - lo) * bw
        rng = f"{_bin_label(b)} – {_bin_label(b + 1)}: {fmt_count(c)}"
        parts.append(f'<rect class="bar {esc(h["name"])}" x="{x + 0.5:.1f}" y="{T + ph - bh:.1f}" '
                     f'width="{max(1.0, bw - 1):.1f}" height="{bh:.1f}"><title>{esc(rng)}</title></rect>')

    def marker(ns: Optional[int], label: str, cls: str, anchor: str, y: int) -> None:
        if ns is None or ns <= 0:
            return
        x = L + (math.log10(ns) * BINS_PER_DECADE - lo) * bw
        if not L <= x <= L + pw:
            return
        dx = -3 if anchor == "end" else 3
        parts.append(f'<line class="pl {cls}" x1="{x:.1f}" y1="{y - 8}" x2="{x:.1f}" y2="{T + ph}"/>')
        parts.append(f'<text class="plt {cls}" x="{x + dx:.1f}" y="{y}" text-anchor="{anchor}">{esc(label)}</text>')

    p = h.get("percentiles") or {}
    marker(p.get("p50"), "p50", "", "end", T - 8)
    marker(p.get("p99"), "p99", "", "start", T - 8)
    if interval_ns and h["name"] in ("hold", "wait"):
        marker(interval_ns, "interval", "iv", "end", T + 6)
    parts.append("</svg>")
    return head + "".join(parts) + "</div>"


def _timeline_note(m: Dict[str, Any]) -> str:
    out = []
    win = m.get("window")
    if win:
        out.append(f'<p class="hint note">This page shows +{esc(fmt_dur(win["start"]))} to '
                   f'+{esc(fmt_dur(win["end"]))} of a run {esc(fmt_dur(win["run_span"]))} long '
                   "(<code>--window</code>): the timeline, the histograms and the drop requests cover that "
                   "stretch; the cards, findings and thread table the whole run.</p>")
    sm = m.get("summary")
    if sm:
        buttons = "".join(
            f'<button type="button" class="tl-win" data-start="{a}" data-end="{b}">'
            f'+{esc(fmt_dur(a))} – +{esc(fmt_dur(b))} ({esc(fmt_count(n))})</button>'
            for a, b, n in sm["windows"])
        out.append(
            f'<p class="hint note" id="tl-summary">This run has {esc(fmt_count(sm["intervals"]))} holds and waits, '
            f'more than a page holds one by one ({esc(fmt_count(sm["threshold"]))}): the timeline shows, per pixel '
            f'column, the share of time held and waited, summed from buckets of {esc(fmt_dur(sm["bucket_ns"]))} '
            "(exact to a bucket at every zoom). Single intervals, time-outs, drop requests and forced switches "
            f'are on the page for the {len(sm["windows"])} busiest windows '
            f'({esc(fmt_count(sm["detail_intervals"]))} intervals; marked in blue on the axis and the overview): '
            "zoom in inside one to see them. <code>gilscope report --window START:END</code> draws any stretch "
            "in full; <code>gilscope export</code> writes every interval for Perfetto.</p>"
            f'<div class="tl-windows">{buttons}</div>')
    ticks = m.get("ticks") or {}
    if ticks.get("derived"):
        out.append(f'<p class="hint note">This run has {esc(fmt_count(ticks["count"]))} wait time-outs, too many to '
                   "embed one by one: each wait's ticks are drawn one switch interval apart from its start, as many "
                   "as it counted.</p>")
    return "".join(out)


def _resource(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def render(model: Dict[str, Any], version: str = "") -> str:
    # The Code panel's script follows the timeline's (it uses its hooks).
    js = _resource("report.js") + "\n" + _resource("code.js")
    if "<script" in js.lower() or "</script" in js.lower():  # a guard for whoever edits report.js
        raise AssertionError("report.js must not contain '<script' or '</script'")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    run = model["run"]
    command = run.get("command")
    iv = run.get("interval_us")
    interval_ns = iv * 1000 if iv else None
    hists = "".join(_hist_svg(h, interval_ns) for h in model["histograms"])
    footer = (f"Generated by gilscope{' ' + esc(version) if version else ''} from {esc(model['db_path'])}, run {esc(run['run_id'])}"
              f" (trace {esc(run.get('trace_path'))}). Everything is in this file; it loads nothing.")
    values = {
        "title": esc(model["title"]),
        "page_title": esc("gilscope · " + model["title"]),
        "version": esc(version),
        "script_hash": f"'sha256-{digest}'",
        "css": _resource("report.css"),
        "command": f'<div class="cmd mono">{esc(command)}</div>' if command and command != model["title"] else "",
        "facts": _facts(model),
        "cards": _cards(model),
        "findings": _findings(model),
        "threads": _threads(model),
        "histograms": hists,
        "footer": footer,
        "tl_note": _timeline_note(model),
        "code": code.render_panel(model.get("code")),
        "data": json_for_script({**model, "code": code.script_data(model.get("code"))}),
        "js": js,
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda mo: values[mo.group(1)], _resource("template.html"))
