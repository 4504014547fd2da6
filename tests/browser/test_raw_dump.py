"""The Stacks panel on a kernel stuck in native code: the raw dump, its cell frames named
from the notebook (number, line, click), and one explanation, not two."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, TOKEN, shut_down_kernels
from .test_lab import code_cell, dump_from_the_kernel_menu, run_first_cell

pytestmark = pytest.mark.browser

NATIVE = (
    "import itertools, time\n"
    "def native():\n"
    "    return sum(itertools.repeat(1))\n"
    "time.sleep(0.5)\n"
    "native()"
)


def test_a_raw_dump_names_its_cells(page: Page, lab_server: str) -> None:
    page.goto(f"{lab_server}/lab/tree/demo.ipynb?token={TOKEN}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    idle = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
    page.wait_for_selector(f".jp-Dialog, {idle}", timeout=60_000)
    asked = page.locator(".jp-Dialog", has_text="Select Kernel")
    if asked.is_visible():  # JupyterLab may ask which kernel to start for it
        asked.locator("button", has_text="Select").click()
    page.wait_for_selector(idle, timeout=60_000)
    first = run_first_cell(page)
    page.keyboard.press("b")  # a new cell below the first, with the hang
    page.keyboard.press("Enter")
    page.keyboard.insert_text(NATIVE)
    page.keyboard.press("Control+Enter")
    hang = code_cell(page, "def native():")
    expect(hang.locator(".jp-InputPrompt")).to_contain_text("*")
    dump_from_the_kernel_menu(page)
    panel = page.locator(".jp-ipysigtrace-panel")
    via = panel.locator(".jp-ipysigtrace-via")
    expect(via).to_be_visible(timeout=30_000)
    for _ in range(6):  # until native code holds the GIL and the control channel is deaf
        try:
            expect(via).to_have_text("via raw", timeout=10_000)
            break
        except AssertionError:  # it answered before native code took the GIL: ask again
            page.locator(".jp-ipysigtrace-refresh").first.click()
    expect(via).to_have_text("via raw")
    frame = panel.locator(".jp-ipysigtrace-frame-cell", has_text="in native").first
    # The running cell has no number yet ([*] in its prompt), so In[*], as in the prompt.
    expect(frame).to_contain_text("Cell In[*], line 3, in native")
    expect(frame).to_contain_text("return sum(itertools.repeat(1))")
    expect(panel.locator(".jp-ipysigtrace-raw")).to_have_count(1)  # the banner, once
    expect(panel.locator(".jp-ipysigtrace-note")).to_have_count(0)  # and not its text again
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-raw-dump.png"))
    first.click()  # move the selection away first
    frame.click()
    active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active")
    expect(active).to_contain_text("def native():")
    expect(panel).not_to_contain_text("not in this notebook")
    shut_down_kernels(page, lab_server)  # native code cannot be interrupted
