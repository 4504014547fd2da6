"""Opening a notebook in JupyterLab or Notebook 7 logs no warning or error of ours.

A bundle that asks for newer shared modules (@jupyterlab/*, @lumino/*) than the page
provides makes the module federation runtime warn "Unsatisfied version ... of shared
singleton module ..." once per module on every page load. That runtime is the consuming
bundle's own code, so such a message comes from a script of ours
(`.../extensions/ipysigtrace/static/...`); other messages of ours name ipysigtrace.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect

from .conftest import TOKEN, shut_down_kernels

pytestmark = pytest.mark.browser

OUR_SCRIPTS = "/extensions/ipysigtrace/"


def is_ours(text: str, url: str) -> bool:
    """A console message that our bundle logged or that names ipysigtrace."""
    return OUR_SCRIPTS in url or "ipysigtrace" in text.lower()


@pytest.mark.parametrize(
    "path", ["/lab/tree/demo.ipynb", "/notebooks/demo.ipynb"], ids=["jupyterlab", "notebook7"]
)
def test_page_load_logs_nothing_of_ours(page: Page, lab_server: str, path: str) -> None:
    ours: list[str] = []
    others = 0

    def on_console(message: ConsoleMessage) -> None:
        nonlocal others
        if message.type not in ("warning", "error"):
            return
        url = message.location.get("url", "")
        if is_ours(message.text, url):
            ours.append(f"{message.type}: {message.text} ({url})")
        else:
            others += 1

    def on_page_error(error: Error) -> None:
        if is_ours(f"{error.message}\n{error.stack or ''}", ""):
            ours.append(f"uncaught: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.goto(f"{lab_server}{path}?token={TOKEN}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    # The menu item exists once our plugin has been activated, after its shared modules
    # were resolved (which is when a version mismatch is logged).
    page.locator(".lm-MenuBar-item", has_text="Kernel").first.click()
    expect(page.locator(".lm-Menu-item", has_text="Dump Kernel Stacks")).to_be_visible()
    page.keyboard.press("Escape")
    page.evaluate("() => 0")  # a round trip: console events sent before it have arrived
    assert ours == [], (
        f"{len(ours)} of ours (and {others} other warnings or errors):\n" + "\n".join(ours)
    )
    shut_down_kernels(page, lab_server)
