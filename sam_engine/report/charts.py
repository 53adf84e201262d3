"""Chart geometry for the HTML report: plain numbers the template draws as inline SVG.

Templates draw exactly what these functions return (rectangles, polylines,
labels at given coordinates) and compute nothing. Two charts:

- ``publisher_bars``: per publisher, its licensable products as one stacked
  horizontal bar, one segment per status (under-licensed first), so the
  publishers that need attention stand out;
- ``trend``: small multiples over the scan history, one panel each for hosts
  scanned, installations and non-compliant products, each with its own scale.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from sam_engine.vocabulary import LICENSABLE as BAR_STATUSES
PUBLISHER_LIMIT = 12  # publishers drawn; the rest are summed in a note
TREND_LIMIT = 60  # most recent scans drawn
LABEL_CHARS = 26  # a longer publisher name is cut in the chart (the title keeps it whole)


def nice_max(value: float) -> int:
    """The smallest "round" number (1, 2, 5 × 10^n) at or above ``value``; at least 1."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover


def publisher_bars(publishers: Sequence[dict[str, Any]], *, width: int = 680, row: int = 26) -> dict[str, Any]:
    """Stacked bars of product counts per status, one row per publisher (the most urgent first)."""
    shown = list(publishers[:PUBLISHER_LIMIT])
    label_w, count_w, top = 190, 60, 8
    bar_w = width - label_w - count_w
    biggest = nice_max(max((sum(p["by_status"].get(s, 0) for s in BAR_STATUSES) for p in shown), default=1))
    rows = []
    for n, pub in enumerate(shown):
        y = top + n * row
        x, segments = float(label_w), []
        for status in BAR_STATUSES:
            count = pub["by_status"].get(status, 0)
            if not count:
                continue
            w = round(bar_w * count / biggest, 1)
            segments.append({"x": round(x, 1), "width": w, "status": status, "count": count,
                             "title": f"{pub['publisher']}: {count} {status}"})
            x += w
        total = sum(s["count"] for s in segments)
        name = pub["publisher"]
        rows.append({
            "publisher": name,
            "text": name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…",
            "y": y,
            "bar_y": y + 4,
            "bar_height": row - 10,
            "text_y": y + row / 2 + 4,
            "segments": segments,
            "total": total,
            "total_x": round(x + 6, 1),
            "non_compliant": pub["non_compliant"],
        })
    hidden = publishers[PUBLISHER_LIMIT:]
    return {
        "width": width,
        "height": top * 2 + max(len(rows), 1) * row,
        "label_x": label_w - 8,
        "rows": rows,
        "scale_max": biggest,
        "legend": list(BAR_STATUSES),
        "more": len(hidden),
        "more_products": sum(p["products"] for p in hidden),
    }


def _panel(title: str, key: str, history: Sequence[dict[str, Any]], width: int, height: int) -> dict[str, Any]:
    left, right, top, bottom = 48, 12, 16, 18
    inner_w, inner_h = width - left - right, height - top - bottom
    values = [h.get(key) for h in history]
    known = [v for v in values if v is not None]
    top_value = nice_max(max(known, default=0))
    step = inner_w / (len(values) - 1) if len(values) > 1 else 0
    dots = []
    for n, (scan, value) in enumerate(zip(history, values)):
        if value is None:
            continue
        x = left + (n * step if len(values) > 1 else inner_w / 2)
        y = top + inner_h - inner_h * value / top_value
        dots.append({"x": round(x, 1), "y": round(y, 1), "value": value,
                     "title": f"{scan['scan_id']} ({scan['finished']}): {value} {title.lower()}"})
    last = dots[-1] if dots else None
    return {
        "title": title,
        "key": key,
        "width": width,
        "height": height,
        "plot": {"x": left, "y": top, "width": inner_w, "height": inner_h, "bottom": top + inner_h,
                 "right": left + inner_w, "label_x": left - 4, "note_x": left + 8, "note_y": top + 30, "x_label_y": height - 4},
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "y_labels": [{"y": top + 4, "text": str(top_value)}, {"y": top + inner_h, "text": "0"}],
        "x_labels": ([{"x": left, "anchor": "start", "text": history[0]["finished"][:10]},
                      {"x": left + inner_w, "anchor": "end", "text": history[-1]["finished"][:10]}]
                     if history else []),
        "latest": None if last is None else last["value"],
        "missing": len(values) - len(known),
    }


def trend(history: Sequence[dict[str, Any]], *, width: int = 330, height: int = 104) -> dict[str, Any]:
    """Three panels over the last ``TREND_LIMIT`` scans: hosts scanned, installations, non-compliant products."""
    shown = list(history[-TREND_LIMIT:])
    return {
        "scans": len(shown),
        "omitted": len(history) - len(shown),
        "panels": [
            _panel("Hosts scanned", "hosts_ok", shown, width, height),
            _panel("Installations", "installations", shown, width, height),
            _panel("Non-compliant products", "non_compliant", shown, width, height),
        ],
    }
