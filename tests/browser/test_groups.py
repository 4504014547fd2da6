"""The Stacks panel on 300 threads with one stack: one section, and a filter that works."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from harness import KERNEL_NAME

from .conftest import ARTIFACTS, shut_down_kernels
from .test_lab import dump_from_the_kernel_menu, interrupt
from .test_not_loaded import bare_notebook, open_notebook, run_first_cell

pytestmark = pytest.mark.browser

CROWD = """\
import threading
stop = threading.Event()
parked = threading.Semaphore(0)
def park():
    parked.release()
    stop.wait()
for i in reversed(range(300)):
    threading.Thread(target=park, name=f"worker-{i}", daemon=True).start()
for _ in range(300):
    parked.acquire()
print("all parked")
def spin():
    while True:
        pass
spin()
"""


def test_a_group_of_threads_and_the_filter(page: Page, lab_server: str) -> None:
    name = bare_notebook(page, lab_server, CROWD, kernel=KERNEL_NAME)
    open_notebook(page, lab_server, name, kernel=KERNEL_NAME)
    run_first_cell(page, "[*]")
    # The cell runs before its threads do: wait until all 300 wait on the event.
    output = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-OutputArea-output")
    expect(output.filter(has_text="all parked")).to_be_visible(timeout=60_000)
    dump_from_the_kernel_menu(page)
    panel = page.locator(".jp-ipysigtrace-panel")
    group = panel.locator("details.jp-ipysigtrace-thread-group")
    expect(group).to_have_count(1, timeout=15_000)
    expect(group.locator("summary").first).to_contain_text("300 threads worker-0 … worker-299")
    expect(group.locator("summary").first).to_contain_text("waiting on an event")
    expect(group.locator("summary").first).to_contain_text("at park")
    expect(group).to_have_attribute("open", "")  # a wait on another thread opens
    members = group.locator(".jp-ipysigtrace-members")
    expect(members).not_to_have_attribute("open", "")  # 300 names: closed
    expect(members.locator("summary")).to_have_text("300 threads")
    main = panel.locator("details.jp-ipysigtrace-thread", has_text="MainThread")
    expect(main).to_have_attribute("open", "")
    expect(panel.locator("details.jp-ipysigtrace-thread").first).to_contain_text("runs the cell")
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-stacks-group.png"))

    box = page.locator(".jp-ipysigtrace-panel .jp-ipysigtrace-filter")
    box.fill("worker-12")  # a member's name
    expect(group).to_have_count(1)
    expect(main).to_have_count(0)
    box.fill("SPIN")  # a function, in any case
    expect(main).to_have_count(1)
    expect(group).to_have_count(0)
    box.fill("no such thing")
    expect(panel).to_contain_text("No thread matches the filter.")
    box.fill("")
    expect(panel.locator("details.jp-ipysigtrace-thread")).to_have_count(2)
    interrupt(page)
    shut_down_kernels(page, lab_server)
