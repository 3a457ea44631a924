"""Endpoints for machines that sit beside the pages: health checks for load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz(request: Request) -> dict[str, str]:
    """Liveness and database reachability for load balancers."""
    with request.app.state.db.read() as conn:
        conn.execute(select(1))
    return {"status": "ok"}
