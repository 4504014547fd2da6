"""Renderers: pure functions of a snapshot. ``render(snapshot, options) -> str``."""

from __future__ import annotations

from html import escape
from typing import Any

from ..snapshot import StackSnapshot
from . import highlight, html, text
from .common import ViewOptions

FORMATS = ("text", "html", "json")

# The snapshot itself, for front ends that render it (the JupyterLab extension does, and
# keeps what the user opened across the live view's updates); others use the HTML or text.
MIME_TYPE = "application/vnd.ipysigtrace.snapshot+json"


def bundle(
    snapshot: StackSnapshot, options: ViewOptions | None = None, header: str = ""
) -> dict[str, Any]:
    """A display bundle: the snapshot as JSON for our renderer, HTML and text fallbacks.

    The notebook keeps the bundle, so its JSON is ``payload``'s compact form.
    """
    head_text = header + "\n" if header else ""
    head_html = f"<div><b>{escape(header)}</b></div>" if header else ""
    return {
        MIME_TYPE: payload(snapshot, header, options),
        "text/html": head_html + html.render(snapshot, options),
        "text/plain": head_text + text.render(snapshot, options),
    }


def payload(
    snapshot: StackSnapshot, header: str = "", options: ViewOptions | None = None
) -> dict[str, Any]:
    """What the snapshot MIME type (and the live view's ``output``) carries: the compact
    form, without the kernel's own frames unless ``options`` show them (a notebook keeps
    it, and the live view sends it every second)."""
    show = options is not None and options.show_machinery
    kept = snapshot if show else snapshot.without_internals()
    return {"snapshot": kept.to_dict(compact=True), "header": header}


def render(snapshot: StackSnapshot, fmt: str, options: ViewOptions | None = None) -> str:
    """The snapshot in one of FORMATS."""
    if fmt == "text":
        return text.render(snapshot, options)
    if fmt == "html":
        return html.render(snapshot, options)
    if fmt == "json":
        return snapshot.to_json(indent=1)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "MIME_TYPE", "ViewOptions", "bundle", "highlight", "payload", "render"]
