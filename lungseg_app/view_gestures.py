"""Zoom with the wheel, pan with the middle button, window/level with the right button, on the X-ray
itself (as DICOM viewers do), while the left button keeps drawing.

A page script (`st.html` with JavaScript, nothing of a user's in it) listens on the editor's canvas:
wheel steps are summed for 150 ms and sent as one zoom about the pointer; a middle- or right-button
drag is sent when the button is released. The message goes through a hidden text input as JSON
(`page_scripts`); `apply_gesture` turns it into the
new view and window, a pure function the tests call directly."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from lungseg_core.imaging.mask_editing import Viewport

GESTURE_KEY = "_view_gesture"
MAX_ZOOM = 8.0

_SCRIPT = """<script>
(() => {
  if (window.__lungsegGestures) return;
  window.__lungsegGestures = {wheel: 0, at: null, timer: null, drag: null};
  const g = window.__lungsegGestures;
  const send = (message) => window.__lungseg.send('.st-key-%(key)s input', JSON.stringify(message));
  const where = (c, e) => { const r = c.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height]; };
  const attach = (tries) => {
    const c = window.__lungseg && window.__lungseg.canvas();
    if (!c) { if (tries > 0) setTimeout(() => attach(tries - 1), 250); return; }
    if (c.__lungsegGestures) return;
    c.__lungsegGestures = true;
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      g.wheel += e.deltaY; g.at = where(c, e);
      clearTimeout(g.timer);
      g.timer = setTimeout(() => { send({k: 'zoom', r: Math.pow(2, -g.wheel / 300), x: g.at[0], y: g.at[1]});
                                   g.wheel = 0; }, 150);
    }, {passive: false});
    c.addEventListener('contextmenu', (e) => e.preventDefault());
    const down = (e) => {
      if (e.button !== 1 && e.button !== 2) return;
      e.preventDefault(); e.stopImmediatePropagation();
      g.drag = {button: e.button, start: where(c, e)};
    };
    const up = (e) => {
      if (!g.drag || e.button !== g.drag.button) return;
      e.preventDefault(); e.stopImmediatePropagation();
      const end = where(c, e), dx = end[0] - g.drag.start[0], dy = end[1] - g.drag.start[1];
      const kind = g.drag.button === 1 ? 'pan' : 'window';
      g.drag = null;
      if (Math.abs(dx) + Math.abs(dy) > 0.005) send({k: kind, dx: dx, dy: dy});
    };
    for (const target of [c, c.parentElement]) {
      target.addEventListener('mousedown', down, true);
      target.addEventListener('pointerdown', down, true);
      target.addEventListener('mouseup', up, true);
      target.addEventListener('pointerup', up, true);
    }
  };
  attach(40);
})();
</script>"""


def gestures_html() -> str:
    return _SCRIPT % {"key": GESTURE_KEY}


def parse_gesture(value: str | None) -> dict[str, Any] | None:
    """The gesture in a "json#n" message, or None for anything else."""
    text = (value or "").rsplit("#", 1)[0]
    try:
        gesture = json.loads(text)
    except ValueError:
        return None
    if not isinstance(gesture, dict) or gesture.get("k") not in ("zoom", "pan", "window"):
        return None
    try:
        return {"k": gesture["k"], **{k: float(gesture.get(k, 0.0)) for k in ("r", "x", "y", "dx", "dy")}}
    except (TypeError, ValueError):
        return None


def apply_gesture(gesture: dict[str, Any], view: Viewport, shape: tuple[int, int], level: float,
                  width: float) -> tuple[Viewport, float, float]:
    """(view, window level %, window width %) after a gesture. Zoom keeps the image point under the
    pointer where it is (1x to 8x); a pan moves the region with the drag, inside the image; a right
    drag raises the level as the pointer goes up and widens the window as it goes right."""
    h, w = shape
    if gesture["k"] == "zoom":
        ratio = float(np.clip(gesture["r"] or 1.0, 0.25, 4.0))
        factor = float(np.clip(w / view.width * ratio, 1.0, MAX_ZOOM))
        if factor <= 1.0:
            return Viewport.whole(shape), level, width
        px, py = view.x0 + gesture["x"] * view.width, view.y0 + gesture["y"] * view.height
        new_w, new_h = w / factor, h / factor
        centre_x = px - (gesture["x"] - 0.5) * new_w
        centre_y = py - (gesture["y"] - 0.5) * new_h
        return Viewport.zoom(shape, centre_x, centre_y, factor), level, width
    if gesture["k"] == "pan":
        if view.width >= w and view.height >= h:
            return view, level, width
        x0 = int(np.clip(round(view.x0 - gesture["dx"] * view.width), 0, w - view.width))
        y0 = int(np.clip(round(view.y0 - gesture["dy"] * view.height), 0, h - view.height))
        return Viewport(x0, y0, x0 + view.width, y0 + view.height), level, width
    new_level = float(np.clip(level - gesture["dy"] * 100, 0, 100))
    new_width = float(np.clip(width + gesture["dx"] * 100, 5, 100))
    return view, round(new_level), round(new_width)
