"""Kernel > Dump Kernel Stacks on a hung cell, in JupyterLab 4 and Notebook 7."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from .conftest import ARTIFACTS, TOKEN, shut_down_kernels

pytestmark = pytest.mark.browser


def code_cell(page: Page, text: str) -> Locator:
    """The notebook's first code cell that contains ``text``: cells are found by content."""
    return page.locator(".jp-Notebook .jp-CodeCell", has_text=text).first


def run_cell(page: Page, cell: Locator) -> None:
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")


def run_first_cell(page: Page) -> Locator:
    """Run the demo's first cell (the helper) until it has printed; that cell."""
    helper = code_cell(page, "def dump_in")
    said = helper.locator(".jp-OutputArea", has_text="This kernel is process")
    for _ in range(3):  # a fresh page may take a moment before it takes keys
        run_cell(page, helper)
        try:
            expect(said).to_be_visible(timeout=15_000)
            break
        except AssertionError:
            continue
    expect(said).to_be_visible()
    return helper


def run_cells_until_the_hang(page: Page) -> None:
    """Run the helper cell, then hang 1 (the pure-Python loop) until it is inside spin().

    The kernel loaded ipysigtrace by itself when it started (autoload): no %load_ext.
    """
    run_first_cell(page)
    spin = code_cell(page, "def spin():")
    run_cell(page, spin)
    # The cell's own dump, dump_in(3) seconds later, shows the loop: spin() is under way.
    expect(spin.locator(".jp-OutputArea", has_text="spin")).to_be_visible(timeout=30_000)


def dump_from_the_kernel_menu(page: Page) -> None:
    page.locator(".lm-MenuBar-item", has_text="Kernel").first.click()
    item = page.locator(".lm-Menu-item", has_text="Dump Kernel Stacks")
    labels = page.locator(".lm-Menu-item .lm-Menu-itemLabel").all_inner_texts()
    interrupt = next(i for i, t in enumerate(labels) if t.startswith("Interrupt Kernel"))
    assert labels[interrupt + 1] == "Dump Kernel Stacks", labels
    item.click()


def check_panel_and_jump(page: Page, shot: str) -> None:
    panel = page.locator(".jp-ipysigtrace-panel")
    expect(panel).to_be_visible()
    cell_frame = panel.locator(".jp-ipysigtrace-frame-cell", has_text="spin").first
    expect(cell_frame).to_be_visible(timeout=15_000)
    expect(cell_frame).to_contain_text(re.compile(r"Cell In\[\d+\], line \d+"))
    expect(panel).to_contain_text("runs the cell")
    page.screenshot(path=str(ARTIFACTS / shot))
    code_cell(page, "def dump_in").click()  # move the selection away first
    cell_frame.click()
    active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active")
    expect(active).to_contain_text("def spin():")


def check_buttons_in_sight(page: Page) -> None:
    """Refresh and Copy stay in sight in the panel's toolbar (Notebook 7 opens the panel in
    its narrow right sidebar), not folded away into an overflow menu."""
    panel = page.locator(".jp-ipysigtrace-panel")
    box = panel.bounding_box()
    assert box is not None
    for label in ("refresh", "copy"):  # JupyterLab 4's toolbar buttons are jp-button elements
        button = panel.locator(f".jp-Toolbar .jp-ipysigtrace-{label}")
        expect(button).to_be_visible()
        shown = button.bounding_box()
        assert shown is not None and box["x"] <= shown["x"]
        assert shown["x"] + shown["width"] <= box["x"] + box["width"], (label, shown, box)


def interrupt(page: Page) -> None:
    """Kernel > Interrupt Kernel (the menu works alike in every JupyterLab and Notebook 7;
    the 'i, i' keys need the notebook's focus, which a click does not give on all of them)."""
    page.locator(".lm-MenuBar-item", has_text="Kernel").first.click()
    page.locator(".lm-Menu-item", has_text="Interrupt Kernel").first.click()
    expect(page.locator(".jp-Notebook")).to_contain_text("KeyboardInterrupt", timeout=20_000)


def test_jupyterlab(page: Page, lab_server: str) -> None:
    page.goto(f"{lab_server}/lab/tree/demo.ipynb?token={TOKEN}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    run_cells_until_the_hang(page)
    dump_from_the_kernel_menu(page)
    expect(page.locator(".lm-TabBar-tab", has_text="Stacks: demo.ipynb")).to_be_visible()
    check_panel_and_jump(page, "jupyterlab-stacks-panel.png")
    page.locator(".jp-ipysigtrace-panel .jp-ipysigtrace-locals").click()
    local = page.locator(".jp-ipysigtrace-panel .jp-ipysigtrace-local", has_text="n")
    expect(local.first).to_be_visible(timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-stacks-locals.png"))
    interrupt(page)
    shut_down_kernels(page, lab_server)


def test_restart_from_the_panel(page: Page, lab_server: str) -> None:
    """With the Stacks panel focused, Kernel > Restart Kernel… is not greyed out: it asks,
    then restarts the panel's kernel (the hung cell stops running)."""
    page.goto(f"{lab_server}/lab/tree/demo.ipynb?token={TOKEN}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    run_cells_until_the_hang(page)
    dump_from_the_kernel_menu(page)
    panel = page.locator(".jp-ipysigtrace-panel")
    expect(panel.locator(".jp-ipysigtrace-frame-cell", has_text="spin").first).to_be_visible(
        timeout=15_000
    )
    panel.locator(".jp-ipysigtrace-title").first.click()  # the panel has the focus
    page.locator(".lm-MenuBar-item", has_text="Kernel").first.click()
    restart = page.locator(".lm-Menu-item", has_text="Restart Kernel…").first
    expect(restart).not_to_have_class(re.compile(r"lm-mod-disabled"))
    restart.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Restart the kernel of demo.ipynb?")
    dialog.locator("button", has_text="Restart").click()
    spin = code_cell(page, "def spin():")
    expect(spin.locator(".jp-InputPrompt")).not_to_contain_text("*", timeout=30_000)
    indicator = page.locator(".jp-Notebook-ExecutionIndicator").first  # the panel covers it
    expect(indicator).to_have_attribute("data-status", "idle", timeout=60_000)
    shut_down_kernels(page, lab_server)


def test_notebook7(page: Page, lab_server: str) -> None:
    page.goto(f"{lab_server}/notebooks/demo.ipynb?token={TOKEN}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    run_cells_until_the_hang(page)
    dump_from_the_kernel_menu(page)
    check_panel_and_jump(page, "notebook7-stacks-panel.png")
    check_buttons_in_sight(page)
    interrupt(page)
    shut_down_kernels(page, lab_server)


def test_live_view_keeps_what_the_user_opened(page: Page, lab_server: str) -> None:
    """The live view updates during a hang; a thread the user opened stays open."""
    page.goto(f"{lab_server}/lab/tree/demo.ipynb?token={TOKEN}")
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells.first).to_be_visible(timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    run_cells_until_the_hang(page)  # starts hang 1
    interrupt(page)
    live_cell = code_cell(page, "%stackdump --live")
    crunch_cell = code_cell(page, "crunch(20_000_000)")
    for cell in (live_cell, crunch_cell):
        run_cell(page, cell)
    view = live_cell.locator(".jp-ipysigtrace-live .jp-ipysigtrace-mime")  # the widget
    expect(view).to_contain_text("cell running for", timeout=15_000)
    expect(view).to_contain_text("in crunch")
    main = view.locator("details.jp-ipysigtrace-thread", has_text="MainThread")
    expect(main).to_have_attribute("open", "")
    main.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-live-view-open.png"))
    main.locator("summary").click()  # the user closes it, in the browser only
    header = view.locator(".jp-ipysigtrace-mime-header")
    before = header.inner_text()
    expect(header).not_to_have_text(before, timeout=10_000)  # an update came from the kernel
    expect(main).not_to_have_attribute("open", "")  # and the user's choice held
    assert "<script" not in view.inner_html()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-live-view.png"))
    view.locator("button.jp-ipysigtrace-stop").click()  # frozen at once, though the kernel is busy
    expect(view.locator(".jp-ipysigtrace-mime-note")).to_contain_text("Stopped")
    stopped_at = header.inner_text()
    page.wait_for_timeout(4_000)  # two intervals of the live view
    expect(header).to_have_text(stopped_at)
    expect(view.locator("button.jp-ipysigtrace-stop")).to_be_disabled()
    shut_down_kernels(page, lab_server)
