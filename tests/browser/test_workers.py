"""One click on a cell that waits on a Dask cluster: the kernel waiting, and under it each
worker process and each Dask task at the cell's line, in the Stacks panel."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from harness import KERNEL_NAME

from .conftest import ARTIFACTS, shut_down_kernels
from .test_lab import dump_from_the_kernel_menu, interrupt
from .test_not_loaded import bare_notebook, open_notebook, run_first_cell

pytestmark = pytest.mark.browser

CLUSTER = """\
import time
from dask.distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
client = Client(cluster)
def slow(x):
    time.sleep(10**6)  # the <b>task</b> waits here
futures = client.map(slow, range(2))
while len(client.processing()) < 2 or not all(client.processing().values()):
    time.sleep(0.05)
print("both running")
client.gather(futures)
"""


@pytest.mark.timeout(300)  # a cluster to start, on a shared machine
def test_the_panel_shows_the_workers_and_their_tasks(page: Page, lab_server: str) -> None:
    name = bare_notebook(page, lab_server, CLUSTER, kernel=KERNEL_NAME)
    open_notebook(page, lab_server, name, kernel=KERNEL_NAME)
    run_first_cell(page, "[*]")
    output = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-OutputArea-output")
    expect(output.filter(has_text="both running")).to_be_visible(timeout=120_000)
    panel = page.locator(".jp-ipysigtrace-panel")
    dask = panel.locator(".jp-ipysigtrace-dask")
    for _ in range(5):  # the workers' tasks are running; the cell may not be in gather yet
        dump_from_the_kernel_menu(page)
        try:
            expect(dask).to_contain_text("2 tasks running on 2 workers", timeout=15_000)
            break
        except AssertionError:
            continue
    expect(dask).to_contain_text("2 tasks running on 2 workers")
    # The kernel first, waiting in the cell.
    cell = panel.locator(".jp-ipysigtrace-frame-cell", has_text="client.gather(futures)")
    expect(cell.first).to_be_visible()
    # Its worker processes, one section for both (they have the same stacks).
    processes = panel.locator("details.jp-ipysigtrace-process", has_text="processes with")
    expect(processes.first).to_contain_text("in slow")
    # The Dask workers, each with its task at the cell's line; the source is text.
    workers = dask.locator("details.jp-ipysigtrace-process")
    expect(workers).to_have_count(2)
    for index in range(2):
        worker = workers.nth(index)
        expect(worker.locator("summary")).to_contain_text("Worker tcp://")
        expect(worker).to_contain_text("task slow-")
        frame = worker.locator(".jp-ipysigtrace-frame-cell", has_text="in slow")
        expect(frame).to_contain_text("the <b>task</b> waits here")
    dask.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-stacks-dask.png"))
    interrupt(page)
    shut_down_kernels(page, lab_server)
