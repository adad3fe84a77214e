"""A brush-sized ring that follows the mouse over the editor's canvas.

The canvas component draws with Fabric's free-drawing cursor (a crosshair) and offers no way to
change it, so the annotator cannot see how wide the brush will paint. This small script, run in the
page (`st.html` with JavaScript, no user input in it), puts one ring of the brush's on-screen
diameter under the pointer while a brush tool is active and hides it otherwise. The ring lives in
the page, outside the component, and lets every pointer event through."""
from __future__ import annotations

import json

RING_ID = "lungseg-brush-ring"

_SCRIPT = """<script>
(() => {
  window.__lungsegBrush = %(state)s;
  const ring = () => {
    let r = document.getElementById('%(ring)s');
    if (!r) {
      r = document.createElement('div');
      r.id = '%(ring)s';
      r.style.cssText = 'position:fixed;pointer-events:none;border-radius:50%%;z-index:100000;display:none;' +
        'box-sizing:border-box;border:1.5px solid;box-shadow:0 0 0 1px rgba(0,0,0,.55)';
      document.body.appendChild(r);
    }
    return r;
  };
  const place = (e) => {
    const b = window.__lungsegBrush, r = ring();
    if (!b.show) { r.style.display = 'none'; return; }
    r.style.display = 'block';
    r.style.width = r.style.height = b.diameter + 'px';
    r.style.left = (e.clientX - b.diameter / 2) + 'px';
    r.style.top = (e.clientY - b.diameter / 2) + 'px';
    r.style.borderColor = b.colour;
  };
  const attach = (tries) => {
    const c = window.__lungseg && window.__lungseg.canvas();  // page_scripts
    if (!c) { if (tries > 0) setTimeout(() => attach(tries - 1), 250); return; }
    if (c.__lungsegBrush) return;
    c.__lungsegBrush = true;
    c.addEventListener('pointermove', place);
    c.addEventListener('pointerleave', () => { ring().style.display = 'none'; });
  };
  if (!window.__lungsegBrush.show) ring().style.display = 'none';
  attach(40);
})();
</script>"""


def brush_cursor_html(diameter_px: float, show: bool, colour: str) -> str:
    """The script for a ring `diameter_px` (screen px) wide in `colour`, shown while `show`."""
    state = json.dumps({"diameter": round(float(diameter_px), 1), "show": bool(show), "colour": colour})
    return _SCRIPT % {"state": state, "ring": RING_ID}
