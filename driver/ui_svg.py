"""The status page's pictures, as inline SVG: a job's stage graph and a
stage's task timeline.

* ``stage_graph(stages)``: one box per stage (``rect.stage``, its status a
  class, a link to its page), laid out in columns by depth (a stage stands
  right of every stage whose shuffle it reads); inside each box, the RDDs
  the stage computes (``g.rdd``), in rows by depth within the stage, joined
  by their narrow dependencies (``line.rdd-edge``), a persisted RDD marked
  (``g.rdd.cached``, a filled ``circle.cached-mark``); between boxes, one
  arrow per shuffle (``path.shuffle``, from the writing stage to the reading
  one).
* ``timeline(tasks, workers, now)``: one lane per worker slot (``g.lane``),
  one bar per task attempt (``rect.task-bar``, its status a class), placed
  by the driver's launch and end times, a tooltip giving its details.

Both take the plain data of ``driver.ui.report`` and return markup; every
text that came from the user (RDD names, call sites, errors) is escaped.

Must not know: the scheduler, the server, how the data was gathered.
"""

from __future__ import annotations

import html
from typing import Any

_FONT = 11  # px, text inside the pictures
_CHAR = 6.3  # px, a character of that font, roughly (to shorten labels)


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _short(text: str, width: float) -> str:
    room = max(4, int(width / _CHAR))
    return text if len(text) <= room else text[:room - 1] + "…"


def _depths(ids: list, parents: dict) -> dict:
    """Longest distance from a node without parents (among ``ids``), by id."""
    depth: dict = {}
    known = set(ids)

    def of(node: Any, trail: frozenset = frozenset()) -> int:
        if node in depth:
            return depth[node]
        inside = [p for p in parents.get(node, ()) if p in known and p not in trail]
        depth[node] = 1 + max((of(p, trail | {node}) for p in inside), default=-1)
        return depth[node]

    for node in ids:
        of(node)
    return depth


# --- the stage graph -------------------------------------------------------------

_NODE_W, _NODE_H, _NODE_GAP, _ROW_GAP = 176, 24, 12, 18
_BOX_PAD, _BOX_HEAD = 12, 30
_COL_GAP, _BOX_GAP = 70, 26


def _rdd_layout(stage: dict) -> tuple[dict, float, float]:
    """Positions of a stage's RDD nodes inside its box, and the box's size."""
    rdds = stage["rdds"]
    ids = [r["id"] for r in rdds]
    depth = _depths(ids, {r["id"]: r["parents"] for r in rdds})
    rows: dict[int, list] = {}
    for rid in ids:
        rows.setdefault(depth[rid], []).append(rid)
    widest = max((len(row) for row in rows.values()), default=1)
    width = max(widest * _NODE_W + (widest - 1) * _NODE_GAP + 2 * _BOX_PAD, 200)
    where = {}
    for level, row in rows.items():
        span = len(row) * _NODE_W + (len(row) - 1) * _NODE_GAP
        left = (width - span) / 2
        for i, rid in enumerate(row):
            where[rid] = (left + i * (_NODE_W + _NODE_GAP), _BOX_HEAD + level * (_NODE_H + _ROW_GAP))
    height = _BOX_HEAD + max(len(rows), 1) * (_NODE_H + _ROW_GAP) - _ROW_GAP + _BOX_PAD
    return where, width, height


def stage_graph(stages: list[dict], link: bool = True) -> str:
    """The SVG of a job's stages (each: id, name, kind, status, parents, rdds)."""
    if not stages:
        return "<p class='empty'>No stages to draw.</p>"
    by_id = {s["id"]: s for s in stages}
    ids = sorted(by_id)
    depth = _depths(ids, {s["id"]: s["parents"] for s in stages})
    layouts = {sid: _rdd_layout(by_id[sid]) for sid in ids}
    columns: dict[int, list] = {}
    for sid in ids:
        columns.setdefault(depth[sid], []).append(sid)
    boxes: dict[int, tuple[float, float, float, float]] = {}
    x = 10.0
    bottom = 0.0
    for level in sorted(columns):
        column_width = max(layouts[sid][1] for sid in columns[level])
        y = 10.0
        for sid in columns[level]:
            _, width, height = layouts[sid]
            boxes[sid] = (x + (column_width - width) / 2, y, width, height)
            y += height + _BOX_GAP
        bottom = max(bottom, y)
        x += column_width + _COL_GAP
    total_w, total_h = max(x - _COL_GAP + 10, 270), bottom - _BOX_GAP + 28  # the legend fits
    parts = [f"<svg class='stage-graph' xmlns='http://www.w3.org/2000/svg' width='{total_w:.0f}' "
             f"height='{total_h:.0f}' viewBox='0 0 {total_w:.0f} {total_h:.0f}' "
             f"font-size='{_FONT}' role='img' aria-label='stage graph'>",
             "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
             "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
             "fill='#555'/></marker></defs>"]
    for sid in ids:  # shuffles first, so boxes cover the arrows' ends
        tx, ty, _, th = boxes[sid]
        parents = [p for p in by_id[sid]["parents"] if p in boxes]
        for i, parent in enumerate(parents):
            # Arrows arrive spread along the reading stage's left side.
            px, py, pw, ph = boxes[parent]
            x1, y1 = px + pw, py + ph / 2
            x2, y2 = tx - 2, ty + th * (i + 1) / (len(parents) + 1)
            bend = max(20.0, (x2 - x1) / 2)
            shuffle = by_id[parent].get("shuffleId")
            parts.append(
                f"<path class='shuffle' data-from='{parent}' data-to='{sid}' "
                f"d='M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} "
                f"{x2:.1f},{y2:.1f}' fill='none' stroke='#555' stroke-width='1.6' "
                f"marker-end='url(#arrow)'><title>shuffle {_esc(shuffle)}: stage {parent} "
                f"writes, stage {sid} reads</title></path>")
    for sid in ids:
        parts.append(_stage_box(by_id[sid], boxes[sid], layouts[sid][0], link))
    legend_y = total_h - 10
    parts.append(f"<g class='legend' transform='translate(10,{legend_y:.0f})'>"
                 "<circle cx='5' cy='-4' r='4.5' fill='#2a9d55'/>"
                 "<text x='14' y='0'>cached (persisted) RDD</text>"
                 "<path d='M170,-4 L200,-4' stroke='#555' stroke-width='1.6' "
                 "marker-end='url(#arrow)'/><text x='208' y='0'>shuffle</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def _stage_box(stage: dict, box: tuple, where: dict, link: bool) -> str:
    x, y, w, h = box
    sid, status = stage["id"], stage.get("status") or "PENDING"
    title = f"Stage {sid}: {stage['name']} ({stage['kind']}, {status.lower()})"
    head = _short(f"Stage {sid} · {status.lower()}", w - 2 * _BOX_PAD)
    inner = [f"<rect class='stage {_esc(status)}' x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' "
             f"height='{h:.1f}' rx='6'/>",
             f"<text class='stage-title' x='{x + _BOX_PAD:.1f}' y='{y + 19:.1f}'>{_esc(head)}</text>"]
    for rdd in stage["rdds"]:
        for parent in rdd["parents"]:
            if parent in where and rdd["id"] in where:
                (px, py), (cx, cy) = where[parent], where[rdd["id"]]
                inner.append(
                    f"<line class='rdd-edge' x1='{x + px + _NODE_W / 2:.1f}' "
                    f"y1='{y + py + _NODE_H:.1f}' x2='{x + cx + _NODE_W / 2:.1f}' "
                    f"y2='{y + cy - 1:.1f}' marker-end='url(#arrow)'/>")
    for rdd in stage["rdds"]:
        nx, ny = where[rdd["id"]]
        nx, ny = x + nx, y + ny
        cached = rdd["cached"]
        label = rdd["name"] or rdd["label"]
        text = _short(f"[{rdd['id']}] {label}", _NODE_W - (26 if cached else 12))
        tip = (f"RDD {rdd['id']}: {rdd['label']}"
               + (f" named {rdd['name']!r}" if rdd["name"] else "")
               + f" at {rdd['callsite']}"
               + (f"; persisted: {rdd['storageLevel']}" if cached else "")
               + (f"; reads shuffle {rdd['readsShuffle']}" if rdd["readsShuffle"] is not None else ""))
        inner.append(
            f"<g class='rdd{' cached' if cached else ''}' data-rdd-id='{rdd['id']}'>"
            f"<title>{_esc(tip)}</title>"
            f"<rect x='{nx:.1f}' y='{ny:.1f}' width='{_NODE_W}' height='{_NODE_H}' rx='4'/>"
            + (f"<circle class='cached-mark' cx='{nx + 12:.1f}' cy='{ny + _NODE_H / 2:.1f}' "
               f"r='5' fill='#2a9d55'/>" if cached else "")
            + f"<text x='{nx + (24 if cached else 8):.1f}' y='{ny + 16:.1f}'>{_esc(text)}</text></g>")
    group = (f"<g class='stage-box' data-stage-id='{sid}' data-status='{_esc(status)}'>"
             f"<title>{_esc(title)}</title>{''.join(inner)}</g>")
    if link:
        return f"<a href='/stage/{sid}'>{group}</a>"
    return group


# --- the task timeline -----------------------------------------------------------


def _tick(offset: float, span: float) -> str:
    return f"{offset * 1000:.0f} ms" if span < 2 else f"{offset:.1f} s"

_LABEL_W, _LANE_H, _PLOT_W = 120, 20, 760


def _lanes(tasks: list[dict], cores: dict) -> dict:
    """The (worker, slot) lane of each task: the slot the worker reported;
    a task still running goes to a free slot of its worker (its slot is
    reported when it ends)."""
    lane: dict = {}
    busy_until: dict = {}
    for task in tasks:
        slot = task.get("slot")
        if slot is not None:
            lane[task["tid"]] = (task["worker"], slot)
            end = task["finished"] or task["launched"]
            key = (task["worker"], slot)
            busy_until[key] = max(busy_until.get(key, 0.0), end)
    taken: set = set()
    for task in sorted((t for t in tasks if t.get("slot") is None), key=lambda t: t["launched"]):
        worker = task["worker"]
        slots = max(cores.get(worker) or 1, 1 + max((s for w, s in busy_until if w == worker),
                                                    default=0))
        free = [s for s in range(slots) if (worker, s) not in taken
                and busy_until.get((worker, s), 0.0) <= task["launched"] + 1e-3]
        choice = free[0] if free else next((s for s in range(slots) if (worker, s) not in taken),
                                           slots)
        taken.add((worker, choice))
        lane[task["tid"]] = (worker, choice)
    return lane


def _worker_key(worker: str) -> tuple:
    prefix, _, number = worker.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (worker, -1)


def timeline(tasks: list[dict], cores: dict, now: float) -> str:
    """The SVG of a stage's task attempts, one lane per worker slot."""
    if not tasks:
        return "<p class='empty'>No tasks have been launched in this stage yet.</p>"
    lane_of = _lanes(tasks, cores)
    lanes = sorted(set(lane_of.values()), key=lambda key: (_worker_key(key[0]), key[1]))
    row = {key: i for i, key in enumerate(lanes)}
    start = min(t["launched"] for t in tasks)
    end = max((t["finished"] or now) for t in tasks)
    span = max(end - start, 1e-3)
    scale = _PLOT_W / span
    height = len(lanes) * _LANE_H + 34
    width = _LABEL_W + _PLOT_W + 20
    parts = [f"<svg class='timeline' xmlns='http://www.w3.org/2000/svg' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}' font-size='{_FONT}' role='img' "
             f"aria-label='task timeline'>"]
    for key in lanes:
        y = row[key] * _LANE_H
        parts.append(f"<g class='lane' data-worker='{_esc(key[0])}' data-slot='{key[1]}'>"
                     f"<rect class='lane-bg' x='{_LABEL_W}' y='{y}' width='{_PLOT_W}' "
                     f"height='{_LANE_H - 2}'/>"
                     f"<text x='4' y='{y + 13}'>{_esc(key[0])} slot {key[1]}</text></g>")
    for tick in range(6):
        tx = _LABEL_W + tick * _PLOT_W / 5
        ty = len(lanes) * _LANE_H
        parts.append(f"<line class='tick' x1='{tx:.1f}' y1='0' x2='{tx:.1f}' y2='{ty + 4}'/>"
                     f"<text x='{tx:.1f}' y='{ty + 16}' text-anchor='middle'>"
                     f"{_tick(tick * span / 5, span)}</text>")
    for task in sorted(tasks, key=lambda t: t["tid"]):
        y = row[lane_of[task["tid"]]] * _LANE_H + 2
        finish = task["finished"] or now
        x = _LABEL_W + (task["launched"] - start) * scale
        w = max((finish - task["launched"]) * scale, 2.0)
        tip = (f"task {task['tid']} (partition {task['partition']}, attempt {task['attempt']}) on "
               f"{task['worker']}: {task['status'].lower()}, {finish - task['launched']:.3f} s"
               + (f"; {task['error']}" if task.get("error") else ""))
        parts.append(f"<rect class='task-bar {_esc(task['status'])}' data-tid='{task['tid']}' "
                     f"x='{x:.1f}' y='{y}' width='{w:.1f}' height='{_LANE_H - 6}' rx='2'>"
                     f"<title>{_esc(tip)}</title></rect>")
    parts.append("</svg>")
    return "".join(parts)
