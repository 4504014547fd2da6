"""The Stacks panel on a kernel that lacks ipysigtrace (autoloading switched off).

While a cell hangs, Kernel > Dump Kernel Stacks says once, in one sentence, that ipysigtrace
is not loaded and that it can be loaded when the running cell ends; asked to, the panel loads
it as soon as the kernel is idle (here: the cell is interrupted) and shows the stacks.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from harness import BARE_KERNEL_NAME

from .conftest import ARTIFACTS, TOKEN, shut_down_kernels
from .test_lab import dump_from_the_kernel_menu, interrupt

pytestmark = pytest.mark.browser

HANG = "import time\n\ndef hang():\n    while True:\n        time.sleep(0.05)\n\nhang()\n"
NOT_LOADED = "ipysigtrace is not loaded in this kernel"


def bare_notebook(page: Page, url: str, source: str, kernel: str = BARE_KERNEL_NAME) -> str:
    """A new notebook of one cell, by default on the kernelspec that does not load ipysigtrace."""
    name = f"bare-{uuid.uuid4().hex[:8]}.ipynb"
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}},
        "cells": [
            {
                "id": "hang",
                "cell_type": "code",
                "source": source,
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        ],
    }
    response = page.request.put(
        f"{url}/api/contents/{name}?token={TOKEN}",
        data=json.dumps({"type": "notebook", "format": "json", "content": notebook}),
        headers={"Content-Type": "application/json"},
    )
    assert response.ok, response.text()
    # Its session and kernel first: the page finds them instead of choosing a kernel itself.
    response = page.request.post(
        f"{url}/api/sessions?token={TOKEN}",
        data=json.dumps(
            {"path": name, "name": name, "type": "notebook", "kernel": {"name": kernel}}
        ),
        headers={"Content-Type": "application/json"},
    )
    assert response.ok, response.text()
    return name


def open_notebook(page: Page, url: str, name: str, kernel: str = BARE_KERNEL_NAME) -> None:
    """Open it in a workspace of its own: no notebook or panel of an earlier test comes back."""
    page.goto(f"{url}/lab/workspaces/{name.removesuffix('.ipynb')}/tree/{name}?token={TOKEN}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    # The status bar names the kernel's state once the page is connected to it; a cell run
    # before that would ask which kernel to start.
    status = page.locator(".jp-StatusBar-TextItem", has_text=f"{kernel} | Idle")
    expect(status).to_be_visible(timeout=60_000)


def run_first_cell(page: Page, prompt: str) -> None:
    """Run the cell and wait until its prompt says `prompt` ("[*]" while it runs)."""
    cell = page.locator(".jp-Notebook .jp-Cell").first
    shown = cell.locator(".jp-InputPrompt", has_text=prompt)
    for _ in range(3):  # a fresh page may take a moment before it takes keys
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        try:
            expect(shown).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            continue
    expect(shown).to_be_visible()


def test_busy_kernel_loads_when_the_cell_ends(page: Page, lab_server: str) -> None:
    name = bare_notebook(page, lab_server, HANG)
    open_notebook(page, lab_server, name)
    run_first_cell(page, "[*]")
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='busy']")).to_be_visible()
    dump_from_the_kernel_menu(page)

    panel = page.locator(".jp-ipysigtrace-panel")
    notice = panel.locator(".jp-ipysigtrace-not-loaded")
    sentence = notice.locator(".jp-ipysigtrace-notice")
    expect(sentence).to_have_text(f"{NOT_LOADED}; it can be loaded when the running cell ends.")
    assert panel.inner_text().count("not loaded") == 1, panel.inner_text()
    assert "%load_ext" not in panel.inner_text()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-not-loaded-busy.png"))

    notice.get_by_role("button", name="Load it when the cell ends").click()
    expect(sentence).to_have_text(f"{NOT_LOADED}; it will be loaded when the running cell ends.")
    expect(notice.get_by_role("button", name="Do not load it")).to_be_visible()
    # Another request of the panel ("not loaded" again) keeps the wait and the one sentence.
    for _ in range(10):  # the server refuses a dump right after another one (429)
        with page.expect_response(lambda r: urlparse(r.url).path.endswith("/dump")) as answer:
            panel.locator(".jp-ipysigtrace-refresh").click()
        if answer.value.status != 429:
            break
    assert answer.value.status == 409
    expect(sentence).to_have_text(f"{NOT_LOADED}; it will be loaded when the running cell ends.")

    interrupt(page)
    main = panel.locator("details.jp-ipysigtrace-thread", has_text="MainThread")
    expect(main).to_be_visible(timeout=30_000)
    expect(notice).to_have_count(0)
    expect(panel.locator(".jp-ipysigtrace-title")).to_be_visible()
    text = panel.inner_text()
    for word in ("not loaded", "Could not load", "failed"):
        assert word not in text, text
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-not-loaded-then-loaded.png"))
    # The load was not stored in the history: the next cell the user runs is In[2].
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("1 + 1")
    page.keyboard.press("Control+Enter")
    second = page.locator(".jp-Notebook .jp-CodeCell", has_text="1 + 1")
    expect(second.locator(".jp-OutputArea")).to_contain_text("2")
    expect(second.locator(".jp-InputPrompt")).to_contain_text("[2]")
    shut_down_kernels(page, lab_server)


def test_idle_kernel_loads_at_once(page: Page, lab_server: str) -> None:
    name = bare_notebook(page, lab_server, "x = 1\n")
    open_notebook(page, lab_server, name)
    run_first_cell(page, "[1]")  # the page is connected to the kernel, which is idle
    dump_from_the_kernel_menu(page)

    panel = page.locator(".jp-ipysigtrace-panel")
    notice = panel.locator(".jp-ipysigtrace-not-loaded")
    expect(notice.locator(".jp-ipysigtrace-notice")).to_have_text(f"{NOT_LOADED}.")
    notice.get_by_role("button", name="Load ipysigtrace").click()
    main = panel.locator("details.jp-ipysigtrace-thread", has_text="MainThread")
    expect(main).to_be_visible(timeout=30_000)
    expect(notice).to_have_count(0)
    shut_down_kernels(page, lab_server)
