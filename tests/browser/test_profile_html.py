"""A real kernel's profile, as static HTML (a saved notebook, nbconvert), in chromium:
the icicle is drawn, the other threads open on request, nothing from the kernel runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from harness import Kernel

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"
CELLS = f"""\
import threading, time
stop = threading.Event()
threading.Thread(target=stop.wait, name={HOSTILE!r}, daemon=True).start()
def spin_for(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
"""


@pytest.fixture
def profiled_html() -> Iterator[str]:
    kernel = Kernel()
    try:
        kernel.execute(CELLS)
        kernel.execute("%stackdump --profile 10m")
        (data,) = kernel.execute("spin_for(1.5)").displays
        yield data["text/html"]
    finally:
        kernel.shutdown()


def test_icicle_in_chromium(page: Page, profiled_html: str) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    page.set_content(f"<html><body>{profiled_html}</body></html>")
    box = page.locator("div[title^='spin_for (Cell In[']").first
    expect(box).to_be_visible()
    width = box.evaluate("e => e.getBoundingClientRect().width")
    page_width = page.evaluate("document.body.getBoundingClientRect().width")
    assert width > 0.8 * page_width, (width, page_width)  # nearly every sample is in it
    expect(page.locator("img")).to_have_count(0)
    other = page.locator("summary", has_text=HOSTILE)  # the name shows as text
    expect(other).to_be_visible()
    details = page.locator("details", has=other)
    expect(details.locator("table")).to_be_hidden()
    other.click()
    expect(details.locator("table")).to_be_visible()
    assert not alerts
