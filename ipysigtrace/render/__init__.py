"""Renderers: pure functions of a snapshot. ``render(snapshot, options) -> str``."""

from __future__ import annotations

from ..snapshot import StackSnapshot
from . import html, text
from .common import ViewOptions

FORMATS = ("text", "html", "json")


def render(snapshot: StackSnapshot, fmt: str, options: ViewOptions | None = None) -> str:
    """The snapshot in one of FORMATS."""
    if fmt == "text":
        return text.render(snapshot, options)
    if fmt == "html":
        return html.render(snapshot, options)
    if fmt == "json":
        return snapshot.to_json(indent=1)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "ViewOptions", "render"]
