"""Kubernetes-style probes: /healthz (liveness) and /readyz (readiness)."""

from fastapi import APIRouter, Request, Response, status

from .. import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def liveness() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readiness(request: Request, response: Response) -> dict[str, str]:
    if not getattr(request.app.state, "ready", False):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "starting"}
    return {"status": "ready"}
