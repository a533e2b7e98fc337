"""The demo's report in a real browser: headless Chromium loads every image, and the page fits 900 and 1400 px.

A copy of the page gets a script (the report itself has none) that measures, once loaded, what a reader
would see: images that failed to load, the page's scroll width against the window, the elements that reach
past the right edge and the tables that scroll sideways in their box. Chromium's ``--dump-dom`` returns the
result. Screenshots of both widths are written next to the report for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
    "--virtual-time-budget=10000",
]  # fmt: skip
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const right = window.innerWidth + 1;
  const over = [...document.querySelectorAll("body *")].filter(e => !e.closest(".scroll"))
    .filter(e => e.getBoundingClientRect().right > right).map(e => e.tagName + "#" + (e.id || e.className));
  const shown = images.map(i => i.getBoundingClientRect().width);
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    images: images.length, broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, over: over,
    widest: Math.max(...shown), body: document.body.getBoundingClientRect().width,
    scrolled: [...document.querySelectorAll(".scroll")].filter(e => e.scrollWidth > e.clientWidth + 1)
      .map(e => e.closest("section").id),
  });
  document.body.appendChild(probe);
});
</script></body>"""


def measure(chromium: str, page: Path, width: int, profile: Path) -> dict:
    """Load ``page`` (with the probe) in a ``width`` px window and return what the probe measured."""
    probed = page.with_name(f"probed-{width}.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
    window = [f"--window-size={width},2000", f"--user-data-dir={profile / str(width)}"]
    done = subprocess.run([chromium, *FLAGS, *window, "--dump-dom", probed.as_uri()], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run: {done.stderr[-2000:]}"
    shot = page.with_name(f"screenshot-{width}.png")
    subprocess.run([chromium, *FLAGS, *window, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120, check=True)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.slow
def test_the_demo_report_renders_in_chromium_at_900_and_1400_px(demo: tuple[Path, str], tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("NOISETRAIN_BROWSER_REQUIRED"):
            pytest.fail("Chromium is required here (NOISETRAIN_BROWSER_REQUIRED) but not installed")
        pytest.skip("needs Chromium (Debian's chromium package); .ci/run installs it")
    page = demo[0] / "report" / "report.html"
    figures = len(list(page.parent.glob("*.png")))
    assert figures >= 7  # one per measure, training curves, noise sweep, strength, reliability diagrams
    for width in (900, 1400):
        seen = measure(CHROMIUM, page, width, tmp_path / "chromium")
        assert seen["images"] == figures and seen["broken"] == 0, seen  # every figure of the report, loaded
        assert seen["scrollWidth"] <= seen["innerWidth"], seen  # no sideways scrolling of the page
        assert seen["over"] == [], seen  # nothing reaches past the right edge (wide tables scroll in their box)
        assert seen["widest"] <= seen["body"], seen
    assert seen["scrolled"] == [], seen  # at 1400 px every table fits its box: none scrolls sideways
