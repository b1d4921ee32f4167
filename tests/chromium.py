"""Headless Chromium (Debian's `chromium`) for the tests that look at pages: a screenshot, and
a layout probe that reports text overlapping or sticking out of its box. Tests that use them
skip with `needs_chromium` when no browser is installed."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Run inside a copy of the page (the pages themselves have no script): each element the
# selector matches stays inside the page's <main>, and within it every pair of text boxes must
# not overlap, and none may stick out.
_PROBE = """<script>
addEventListener('load', () => {
  const bad = [];
  // HTML text only: charts are SVG (drawn in their own coordinates, tooltips never shown).
  const boxes = el => [...el.querySelectorAll('*')].filter(c => c.children.length === 0 &&
      c.textContent.trim() && !c.closest('svg')).map(c => [c, c.getBoundingClientRect()]);
  const main = document.querySelector('main'), frame = main.getBoundingClientRect();
  const style = getComputedStyle(main);  // its content box: inside the padding
  const left = frame.left + parseFloat(style.paddingLeft);
  const right = frame.right - parseFloat(style.paddingRight);
  for (const el of document.querySelectorAll(SELECTOR)) {
    const outer = el.getBoundingClientRect(), items = boxes(el);
    if (outer.right > right + 1 || outer.left < left - 1)
      bad.push('leaves the page: ' + el.textContent.trim().slice(0, 40));
    items.forEach(([c, r], i) => {
      if (r.right > outer.right + 1 || r.left < outer.left - 1)
        bad.push('out of its box: ' + c.textContent.slice(0, 40));
      items.slice(i + 1).forEach(([d, q]) => {
        if (r.left < q.right - 1 && q.left < r.right - 1 && r.top < q.bottom - 1 &&
            q.top < r.bottom - 1)
          bad.push(c.textContent.slice(0, 40) + ' overlaps ' + d.textContent.slice(0, 40));
      });
    });
  }
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify(bad);
  document.body.appendChild(out);
});
</script>"""


def _run(args: list[str]) -> str:
    profile = tempfile.mkdtemp()
    try:
        return subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],
                              check=True, capture_output=True, timeout=60, text=True).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(html: str, folder: Path, name: str, size: str = "1280,1800") -> Path:
    page = folder / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = folder / f"{name}.png"
    _run(["--hide-scrollbars", f"--screenshot={shot}", f"--window-size={size}",
          page.as_uri()])
    return shot


def layout_problems(html: str, folder: Path, *, selector: str, width: int) -> list[str]:
    """`selector`'s elements that leave the page, and text inside them that overlaps other
    text or leaves its box, as Chromium lays the page out `width` pixels wide."""
    page = folder / f"probe-{width}.html"
    probe = _PROBE.replace("SELECTOR", json.dumps(selector))
    # Headless Chromium lays pages out at least 500 px wide whatever the window: the page's
    # <main> is given the width instead (what a window that wide leaves it).
    narrow = f"<style>main{{width:{width}px;max-width:none}}</style>" if width < 1200 else ""
    page.write_text(html.replace("</body>", narrow + probe + "</body>"), encoding="utf-8")
    dom = _run([f"--window-size={max(width, 1280)},1200", "--virtual-time-budget=3000",
                "--dump-dom", page.as_uri()])
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None, "the probe did not run"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">").replace("&quot;", '"'))


def png_pixels(path: Path) -> bytes:
    """The decompressed image data of a PNG (filter bytes included): enough to tell a rendered
    page from a blank one by how many distinct byte values it holds."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)
