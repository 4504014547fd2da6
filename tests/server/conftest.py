"""pytest-jupyter's server fixtures, for these tests only.

Loaded here rather than as a global plugin: its event-loop fixtures and hooks clash with
Playwright's sync API in the browser tests.
"""

from pytest_jupyter.jupyter_server import *  # noqa: F403
