"""What a route needs from the app: the Backend it fronts."""

from __future__ import annotations

from ember.backend.service import Backend
from fastapi import Request


async def backend_of(request: Request) -> Backend:
    """Async so that FastAPI calls it in the event loop: a sync dependency costs each request a trip
    through the thread pool."""
    return request.app.state.backend
