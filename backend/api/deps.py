"""What a route needs from the app: the Backend it fronts."""

from __future__ import annotations

from fastapi import Request

from backend.service import Backend


def backend_of(request: Request) -> Backend:
    return request.app.state.backend
