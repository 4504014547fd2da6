"""The Stacks panel's "Profile 10 s" on a cell that has been busy for a while: the cell
keeps running, the panel says how long the profile has left and then which function took
the time, and the flame graph comes under the cell."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from harness import KERNEL_NAME
from workloads import HOT_LOOP

from .conftest import ARTIFACTS, shut_down_kernels
from .test_lab import dump_from_the_kernel_menu, interrupt
from .test_not_loaded import bare_notebook, open_notebook, run_first_cell

pytestmark = pytest.mark.browser


@pytest.mark.timeout(300)  # a 10 s profile, on a shared machine
def test_one_click_shows_where_the_time_goes(page: Page, lab_server: str) -> None:
    name = bare_notebook(page, lab_server, HOT_LOOP, kernel=KERNEL_NAME)
    open_notebook(page, lab_server, name, kernel=KERNEL_NAME)
    run_first_cell(page, "[*]")
    cell = page.locator(".jp-Notebook .jp-Cell").first
    expect(cell.locator(".jp-OutputArea-output", has_text="crunching")).to_be_visible(
        timeout=60_000
    )
    dump_from_the_kernel_menu(page)
    panel = page.locator(".jp-ipysigtrace-panel")
    expect(panel.locator(".jp-ipysigtrace-frame-cell", has_text="crunch").first).to_be_visible(
        timeout=15_000
    )
    panel.locator(".jp-ipysigtrace-profile-button").click()
    status = panel.locator(".jp-ipysigtrace-profile-status")
    expect(status).to_contain_text("s left", timeout=15_000)
    expect(status).to_contain_text("its flame graph is under the cell", timeout=60_000)
    top = panel.locator(".jp-ipysigtrace-profile-top li").first
    expect(top).to_contain_text("hot")
    expect(top).to_contain_text("Cell In[1], line")
    # Under the cell, which still runs: the static view (icicle and table), one output: the
    # view that grew while it sampled is replaced by its end, not followed by it.
    expect(cell.locator(".jp-OutputArea-output", has_text="ended: duration")).to_be_visible()
    expect(cell.locator(".jp-OutputArea-output", has_text="Profile of process")).to_have_count(1)
    expect(cell.locator(".jp-InputPrompt", has_text="[*]")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-profile-button.png"))
    interrupt(page)
    shut_down_kernels(page, lab_server)
