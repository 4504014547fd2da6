"""A real JupyterLab server and Debian's chromium, driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# IPYSIGTRACE_CHROMIUM names another chromium (or a missing one, to see what happens then).
CHROMIUM = os.environ.get("IPYSIGTRACE_CHROMIUM", "/usr/bin/chromium")
# Without chromium the browser tests fail, unless this is set to 1: then they are skipped.
SKIP_ENV = "IPYSIGTRACE_SKIP_BROWSER_TESTS"
ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
TOKEN = "ipysigtrace-browser-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; a test that needs it errors without it, unless skipping was asked."""
    if not Path(CHROMIUM).exists():
        missing = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{missing}; skipped because {SKIP_ENV}=1")
        pytest.fail(f"{missing}; set {SKIP_ENV}=1 to skip them", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def lab_server(
    tmp_path_factory: pytest.TempPathFactory, jupyter_env: Path, chromium: str
) -> Iterator[str]:
    """jupyter lab on 127.0.0.1 serving a copy of notebooks/ (it also serves Notebook 7)."""
    root = tmp_path_factory.mktemp("notebooks")
    shutil.copy(ROOT / "notebooks" / "demo.ipynb", root / "demo.ipynb")
    port = free_port()
    log = open(tmp_path_factory.mktemp("lab") / "lab.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.port_retries=0",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:  # the server goes with the fixture, also when it never came up
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"jupyter lab did not start; see {log.name}") from None
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(20)
        log.close()


@pytest.fixture(scope="module")  # Playwright's loop must be gone before other tests run
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield launched
        launched.close()


def shut_down_kernels(page: Page, url: str) -> None:
    """End the notebook's session and kernel, so that the next test starts a fresh one."""
    for session in page.request.get(f"{url}/api/sessions?token={TOKEN}").json():
        page.request.delete(f"{url}/api/sessions/{session['id']}?token={TOKEN}")
    for kernel in page.request.get(f"{url}/api/kernels?token={TOKEN}").json():
        page.request.delete(f"{url}/api/kernels/{kernel['id']}?token={TOKEN}")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    page.set_default_timeout(30_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
