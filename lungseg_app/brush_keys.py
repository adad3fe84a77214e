"""Alt+J / Alt+K (thinner / wider brush) that never drop a key press.

Streamlit's button shortcuts send one "clicked" trigger per press; presses that arrive while the
page is running again are merged, so eight quick presses widened the brush by five. Here a small
page script (`st.html` with JavaScript, nothing of a user's in it) counts the presses itself and
sends the *target width* (not a step) through a hidden text input (`page_scripts`), once the keys
rest for 120 ms: a merged or late message still carries the right width. A message that a
run in flight swallowed is sent again until the page is drawn with the width counted to."""
from __future__ import annotations

import json

TARGET_KEY = "_brush_target"
MIN_WIDTH, MAX_WIDTH = 1, 60

_SCRIPT = """<script>
(() => {
  window.__lungsegBrushWidth = %(width)s;
  if (window.__lungsegBrushKeys) return;
  const k = window.__lungsegBrushKeys = {pending: null, timer: null, check: null, last: 0, tries: 0};
  const send = () => {
    if (k.pending === null || !window.__lungseg.send('.st-key-%(key)s input', String(k.pending))) return;
    clearTimeout(k.check);
    k.check = setTimeout(confirm, 800);
  };
  const confirm = () => {  // the page drawn again sets window.__lungsegBrushWidth to the width it used
    if (k.pending === null) return;
    if (window.__lungsegBrushWidth === k.pending) { k.pending = null; k.tries = 0; return; }
    if (Date.now() - k.last < 400) { k.check = setTimeout(confirm, 400); return; }
    k.tries += 1;
    if (k.tries > 10) { k.pending = null; k.tries = 0; return; }
    send();
  };
  window.addEventListener('keydown', (e) => {
    if (!e.altKey || (e.code !== 'KeyJ' && e.code !== 'KeyK') || window.__lungseg.typing(e.target)) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    const recent = k.pending !== null && Date.now() - k.last < 3000;
    const base = recent ? k.pending : window.__lungsegBrushWidth;
    k.pending = Math.max(%(lo)d, Math.min(%(hi)d, base + (e.code === 'KeyK' ? 1 : -1)));
    k.last = Date.now();
    clearTimeout(k.timer);
    k.timer = setTimeout(send, 120);
  }, true);
})();
</script>"""


def brush_keys_html(width: int) -> str:
    """The script, told the brush width the page was drawn with."""
    return _SCRIPT % {"width": json.dumps(int(width)), "key": TARGET_KEY, "lo": MIN_WIDTH, "hi": MAX_WIDTH}


def parse_target(value: str | None) -> int | None:
    """The width in a "width#n" message (None for anything else), clamped to the slider's range."""
    head = (value or "").split("#", 1)[0].strip()
    if not head.isdigit():
        return None
    return max(MIN_WIDTH, min(MAX_WIDTH, int(head)))
