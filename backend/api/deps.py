"""What a route needs from the app: the Backend it fronts."""

from __future__ import annotations

from ember.backend.service import Backend
from fastapi import Request


def backend_of(request: Request) -> Backend:
    return request.app.state.backend
