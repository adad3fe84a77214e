"""What the Correct page's small scripts share (`st.html` with JavaScript, nothing of a user's in
them): finding the editor's canvas, telling whether a key press is typing, and sending a value to the
server through a hidden text input ("text#n": n counts the messages, so the same value twice is still
a change; Enter commits after the input has taken the value). Installed once, before the others."""
from __future__ import annotations

PRELUDE = """<script>
(() => {
  if (window.__lungseg) return;
  const sent = {};
  window.__lungseg = {
    canvas: () => {
      for (const host of document.querySelectorAll('*')) {
        const c = host.shadowRoot && host.shadowRoot.querySelector('canvas.upper-canvas');
        if (c) return c;
      }
      return document.querySelector('canvas.upper-canvas');
    },
    typing: (t) => !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable),
    send: (selector, text) => {
      const el = document.querySelector(selector);
      if (!el) return false;
      sent[selector] = (sent[selector] || 0) + 1;
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, text + '#' + sent[selector]);
      el.dispatchEvent(new Event('input', {bubbles: true}));
      setTimeout(() => el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 13,
                                                                      bubbles: true})), 40);
      return true;
    },
  };
})();
</script>"""


def page_scripts_prelude() -> str:
    return PRELUDE
