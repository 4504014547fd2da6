"""Calls of ipysigtrace's REST endpoints, shared by the server tests."""

from __future__ import annotations

import json
from typing import Any

from tornado.httpclient import HTTPClientError


async def status_of(jp_fetch: Any, kernel_id: str) -> dict[str, Any]:
    """GET the kernel's status."""
    response = await jp_fetch("ipysigtrace", "api", "kernels", kernel_id)
    return json.loads(response.body)


async def dump(jp_fetch: Any, kernel_id: str, body: str = "{}") -> tuple[int, dict[str, Any]]:
    """POST a dump request; (HTTP status, JSON body), errors included."""
    try:
        response = await jp_fetch(
            "ipysigtrace", "api", "kernels", kernel_id, "dump", method="POST", body=body
        )
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body)
    return response.code, json.loads(response.body)
