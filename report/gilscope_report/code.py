"""The Code panel: where in the code the GIL goes.

From the analyzer's code_sites, stacks and stack_frames (schema 3): a
sortable table of the sites (file:line, function, the source line when the
file is readable here, and what the GIL did there), two GIL flame graphs
(held time and wait time by Python stack, drawn here as SVG), and, for runs
small enough to embed them, the site of every hold and wait of each lane,
which report.js's timeline uses to highlight a site's intervals and to name
the code in its tooltips (code.js).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

# The table shows the busiest sites; the flame graphs drop frames narrower
# than a pixel; per-interval sites are embedded up to this many intervals
# (the page stays light: past it the table and flame graphs remain).
MAX_SITES = 300
MARK_BUDGET = 200_000
FLAME_W = 1160
FLAME_ROW = 17
FLAME_MAX_DEPTH = 64


def _tables(conn: sqlite3.Connection) -> set:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def source_line(path: str, line: Optional[int], cache: Dict[str, Optional[List[str]]]) -> Optional[str]:
    """The text of a line of a source file readable here, else None."""
    if not line or line < 1 or not path or path.startswith("<"):
        return None
    if path not in cache:
        try:
            p = Path(path)
            cache[path] = (p.read_text(encoding="utf-8", errors="replace").splitlines()
                           if p.is_file() and p.stat().st_size < (16 << 20) else None)
        except OSError:
            cache[path] = None
    lines = cache[path]
    if lines is None or line > len(lines):
        return None
    return lines[line - 1].strip()[:200]


def site_label(file: str, line: Optional[int], function: str) -> str:
    base = file.rsplit("/", 1)[-1] if file else "?"
    return f"{base}:{line} {function}" if line is not None else f"{base} {function}"


def load(conn: sqlite3.Connection, run_id: int, t0: int) -> Optional[Dict[str, Any]]:
    """The panel's model, or None when the database has no code locations
    (schema 2, or a run traced without them)."""
    if "code_sites" not in _tables(conn):
        return None
    rows = conn.execute(
        "SELECT site_id, filename, function, line, holds, held_ns, max_hold_ns, acquires, "
        "voluntary_releases, released_ns, forced_releases, waits, wait_ns FROM code_sites "
        "WHERE run_id = ? ORDER BY held_ns + wait_ns + released_ns DESC, site_id", (run_id,)).fetchall()
    if not rows:
        return None
    cache: Dict[str, Optional[List[str]]] = {}
    labels: Dict[int, str] = {}
    sites = []
    for r in rows:
        labels[r[0]] = site_label(r[1], r[3], r[2])
        if len(sites) < MAX_SITES:
            sites.append({"id": r[0], "file": r[1], "function": r[2], "line": r[3], "holds": r[4],
                          "held_ns": r[5], "max_hold_ns": r[6], "acquires": r[7], "voluntary": r[8],
                          "released_ns": r[9], "forced": r[10], "waits": r[11], "wait_ns": r[12],
                          "source": source_line(r[1], r[3], cache)})
    n = conn.execute("SELECT (SELECT count(*) FROM holds WHERE run_id = :r) + "
                     "(SELECT count(*) FROM waits WHERE run_id = :r)", {"r": run_id}).fetchone()[0]
    lanes: List[Dict[str, Any]] = []
    if n <= MARK_BUDGET:
        lanes = _lane_sites(conn, run_id, t0)
    return {"sites": sites, "labels": {str(k): v for k, v in labels.items()},
            "lanes": lanes, "marks_omitted": n > MARK_BUDGET, "intervals": n,
            "flame": {"held": _flame(conn, run_id, "held_ns", labels),
                      "wait": _flame(conn, run_id, "wait_ns", labels)}}


def _lane_sites(conn: sqlite3.Connection, run_id: int, t0: int) -> List[Dict[str, Any]]:
    """Per (gil, tid): hold starts with their start and end sites, wait
    starts with their sites, times relative to t0 (as the timeline's)."""
    out: Dict[Tuple[int, int], Dict[str, List[int]]] = {}

    def lane(gil: int, tid: int) -> Dict[str, List[int]]:
        if (gil, tid) not in out:
            out[(gil, tid)] = {"hs": [], "ha": [], "hb": [], "ws": [], "wa": []}
        return out[(gil, tid)]

    for gil, tid, s, a, b in conn.execute(
            "SELECT gil_id, tid, start_ns - ?, start_site_id, end_site_id FROM holds WHERE run_id = ? "
            "ORDER BY gil_id, tid, start_ns", (t0, run_id)):
        d = lane(gil, tid)
        d["hs"].append(s)
        d["ha"].append(a or 0)
        d["hb"].append(b or 0)
    for gil, tid, s, a in conn.execute(
            "SELECT gil_id, tid, start_ns - ?, site_id FROM waits WHERE run_id = ? "
            "ORDER BY gil_id, tid, start_ns", (t0, run_id)):
        d = lane(gil, tid)
        d["ws"].append(s)
        d["wa"].append(a or 0)
    return [{"gil": g, "tid": t, **d} for (g, t), d in out.items()]


def _flame(conn: sqlite3.Connection, run_id: int, col: str, labels: Dict[int, str]) -> Dict[str, Any]:
    """A tree of {site, value, children} from the stacks' col (held_ns or
    wait_ns), outermost frame at the root."""
    root: Dict[str, Any] = {"site": 0, "value": 0, "children": {}}
    frames: Dict[int, List[int]] = {}
    for sid, depth, site in conn.execute(
            "SELECT f.stack_id, f.depth, f.site_id FROM stack_frames f JOIN stacks s "
            f"USING (run_id, stack_id) WHERE f.run_id = ? AND s.{col} > 0 ORDER BY f.stack_id, f.depth DESC",
            (run_id,)):
        frames.setdefault(sid, []).append(site)
    for sid, value in conn.execute(f"SELECT stack_id, {col} FROM stacks WHERE run_id = ? AND {col} > 0",
                                   (run_id,)):
        node = root
        node["value"] += value
        for site in frames.get(sid, [])[:FLAME_MAX_DEPTH]:
            node = node["children"].setdefault(site, {"site": site, "value": 0, "children": {}})
            node["value"] += value
    return root


def _fmt_dur(ns: Optional[float]) -> str:
    from .render import fmt_dur  # render imports this module: import at call time
    return fmt_dur(ns)


def _esc(v: Any) -> str:
    from .render import esc
    return esc(v)


COLUMNS = (
    # (header, key, numeric, title)
    ("site", "label", False, "file:line and function (click a row to highlight its intervals on the timeline)"),
    ("held until here", "held_ns", True, "GIL held by the holds that ended at this line"),
    ("longest", "max_hold_ns", True, "the longest of those holds"),
    ("waited here", "wait_ns", True, "time waiting for the GIL asked for at this line"),
    ("releases", "voluntary", True, "releases by the call on this line (I/O, sleep, a lock, a C call): 0 means the line keeps the GIL"),
    ("off the GIL", "released_ns", True, "time without the GIL after those releases, until the thread asked for it again"),
    ("forced", "forced", True, "releases here forced by a drop request: the line was interrupted"),
    ("resumed", "acquires", True, "holds that started at this line"),
)


def _table(model: Dict[str, Any]) -> str:
    head = "".join(f'<th class="{"num" if num else "txt"}" title="{_esc(t)}">{_esc(h)}</th>'
                   for h, _, num, t in COLUMNS)
    body = []
    for s in model["sites"]:
        label = site_label(s["file"], s["line"], s["function"])
        cells = [f'<td class="name site" data-v="{_esc(label)}" title="{_esc(s["file"])}">'
                 f'<span class="mono">{_esc(label)}</span>'
                 + (f'<code class="src">{_esc(s["source"])}</code>' if s.get("source") else "") + "</td>"]
        for _, key, _, _ in COLUMNS[1:]:
            v = s.get(key)
            text = _fmt_dur(v) if key.endswith("_ns") else ("—" if v is None else f"{v:,}".replace(",", "\u202f"))
            cells.append(f'<td class="num" data-v="{_esc(v if v is not None else "")}">{_esc(text)}</td>')
        body.append(f'<tr data-site="{int(s["id"])}" tabindex="0">' + "".join(cells) + "</tr>")
    return (f'<table class="code-sites sortable" id="code-sites"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _flame_svg(tree: Dict[str, Any], labels: Dict[str, str], kind: str, title: str) -> str:
    total = tree["value"]
    if not total:
        return (f'<div class="flame"><h3>{_esc(title)}</h3>'
                '<p class="empty">no stacks with this time in this run</p></div>')
    rects: List[str] = []
    depth_max = 0

    def walk(node: Dict[str, Any], x: float, depth: int) -> None:
        nonlocal depth_max
        for child in sorted(node["children"].values(), key=lambda c: -c["value"]):
            w = child["value"] / total * FLAME_W
            if w >= 0.5:
                depth_max = max(depth_max, depth + 1)
                label = labels.get(str(child["site"]), "?")
                tip = f"{label} — {_fmt_dur(child['value'])} ({100.0 * child['value'] / total:.1f}%)"
                y = depth * FLAME_ROW
                shade = 40 + (child["site"] * 37) % 30
                text = ""
                if w > 36:
                    n = int((w - 6) / 6.3)
                    shown = label if len(label) <= n else label[:max(1, n - 1)] + "…"
                    text = f'<text x="{x + 3:.1f}" y="{y + 12}">{_esc(shown)}</text>'
                rects.append(f'<g data-site="{int(child["site"])}"><title>{_esc(tip)}</title>'
                             f'<rect class="fl {kind}" x="{x:.1f}" y="{y}" width="{max(0.5, w - 0.5):.1f}" '
                             f'height="{FLAME_ROW - 1}" style="opacity:{shade / 70:.2f}"/>{text}</g>')
                walk(child, x, depth + 1)
            x += w

    walk(tree, 0.0, 0)
    h = depth_max * FLAME_ROW
    return (f'<div class="flame"><h3>{_esc(title)}</h3><p>{_esc(_fmt_dur(total))} in all · outermost frame '
            f'on top, each frame as wide as its share · hover for the numbers</p>'
            f'<svg class="flame-svg" viewBox="0 0 {FLAME_W} {h}" width="100%" role="img" '
            f'aria-label="{_esc(title)}">{"".join(rects)}</svg></div>')


def render_panel(model: Optional[Dict[str, Any]]) -> str:
    """The Code panel's HTML (empty-state text when there is no code model)."""
    if model is None:
        return ('<p class="empty">No code locations in this run: Python 3.6, an interpreter the tracer has no '
                'offsets for, a recording made with GILSCOPE_ATTRIB=off, or a database written by an older '
                'gilscope.</p>')
    note = ""
    if model["marks_omitted"]:
        note = (f'<p class="hint note">This run has {model["intervals"]:,} holds and waits: too many to embed '
                "each one's code site, so rows do not highlight the timeline and its tooltips do not name "
                "the code; the table and the flame graphs cover the whole run.</p>")
    return ('<div class="table-wrap">' + _table(model) + "</div>" + note +
            '<div class="flames">' +
            _flame_svg(model["flame"]["held"], model["labels"], "held",
                       "GIL held, by the Python stack it ended in") +
            _flame_svg(model["flame"]["wait"], model["labels"], "wait",
                       "Waiting for the GIL, by the Python stack that asked") + "</div>")


def script_data(model: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """What code.js needs in the page's JSON: labels and per-lane sites (the
    table and the flame graphs are already HTML)."""
    if model is None:
        return None
    return {"labels": model["labels"], "lanes": model["lanes"], "marks_omitted": model["marks_omitted"]}
