"""The live view of ``%stackdump --live``: an ipywidgets widget the watcher keeps current.

The watcher sets ``output`` (the snapshot and a header line) from its own thread every few
seconds while a cell runs and after every dump; ipywidgets sends the change on IOPub,
which a front end hears even while the shell is busy. The browser side (``LiveStacksView``
in the lab extension) keeps what the user opened, the toggles and the scroll position
across updates, so nothing the user does to the view needs the busy kernel.

Messages from the browser reach the kernel only once it is idle again. The view counts
its displays (``_view_count``): when the last one has gone (cleared output, closed
notebook) at the next update, or the user presses Stop, the kernel stops updating it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ipywidgets import DOMWidget
from traitlets import Bool, Dict, Float, Unicode, observe

from . import __version__
from .render import MIME_TYPE

MODULE = "ipysigtrace"


def module_version(version: str) -> str:
    """The semver range of the front end for this package version. Both are written once,
    in labextension/package.json, which the Python metadata spells in PEP 440 (npm's
    0.2.0-rc.1 is 0.2.0rc1 here): a release asks for ``^0.2.0``, a pre-release for any
    pre-release of it or later (``^0.2.0-0``), and a version that says nothing of the front
    end (a source tree never installed: 0+unknown) for any."""
    found = re.fullmatch(r"(\d+\.\d+\.\d+)((?:a|b|rc|\.?dev)\d*)*(\+.*)?", version)
    if found is None:
        return "*"
    return f"^{found.group(1)}" + ("-0" if found.group(2) else "")


MODULE_VERSION = module_version(__version__)


class LiveStacks(DOMWidget):
    """Every thread's stack, updated by the watcher while a cell runs."""

    _model_name = Unicode("LiveStacksModel").tag(sync=True)
    _model_module = Unicode(MODULE).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode("LiveStacksView").tag(sync=True)
    _view_module = Unicode(MODULE).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    output = Dict(help="The snapshot JSON and a header line, as in the snapshot MIME type.").tag(
        sync=True
    )
    interval = Float(2.0, help="Seconds between updates while a cell runs.").tag(sync=True)
    stopped = Bool(False, help="True once the view no longer updates.").tag(sync=True)

    def __init__(
        self, bundle: dict[str, Any], interval: float, on_stop: Callable[[Any], None]
    ) -> None:
        self._fallback = {k: bundle[k] for k in ("text/plain", "text/html") if k in bundle}
        self._on_stop = on_stop
        self._seen = False  # shown at least once: a view count of 0 then means all closed
        super().__init__(output=bundle[MIME_TYPE], interval=interval, _view_count=0)
        self.on_msg(self._message)

    def show(self, output: dict[str, Any]) -> None:
        """Watcher thread: replace what the view shows (ipywidgets sends it on IOPub)."""
        if self._seen and not self._view_count:
            self.stop()  # no display since the previous update (see _views_changed)
        if not self.stopped and self.comm is not None:
            self.output = output

    def stop(self) -> None:
        """No more updates; the view keeps its last snapshot."""
        if not self.stopped:
            self.stopped = True
            self._on_stop(self)

    def close(self) -> None:
        """Stop updating, then close the widget."""
        self.stop()
        super().close()

    @observe("_view_count")
    def _views_changed(self, change: dict[str, Any]) -> None:
        # Shown at least once, a count of 0 means every display went (a cleared output, a
        # closed notebook). It is acted on at the next update, not here: moving a cell
        # makes the front end count 0, then 1 again.
        if change["new"]:
            self._seen = True

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "stop":
            self.stop()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The widget where widgets render; the dump as it was when shown where they do not
        # (a saved notebook on GitHub, nbconvert). ipywidgets' text/plain would be the repr
        # of every trait, the whole snapshot included.
        data = super()._repr_mimebundle_(**kwargs) or {}
        data.update(self._fallback)
        return data

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else f"every {self.interval:g} s"
        return f"<LiveStacks {state}>"
