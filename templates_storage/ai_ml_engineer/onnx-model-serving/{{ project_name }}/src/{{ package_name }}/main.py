"""HTTP API loosely following the KServe v1 protocol: POST /v1/models/<name>:predict."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from . import __version__
from .config import Settings, get_settings
from .model import OnnxModel

log = logging.getLogger(__name__)


class PredictRequest(BaseModel):
    instances: list[list[float]] = Field(min_length=1)


class PredictResponse(BaseModel):
    model_name: str
    model_version: str
    predictions: dict[str, list]
    latency_ms: float


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = OnnxModel(settings.model_path, settings.intra_op_threads)
        log.info("loaded %s from %s", settings.model_name, settings.model_path)
        yield
        app.state.model = None

    app = FastAPI(title="{{ project_name }}", version=__version__, lifespan=lifespan)
    app.state.model = None

    def model_or_503(request: Request, name: str) -> OnnxModel:
        if name != settings.model_name:
            raise HTTPException(404, f"model {name!r} not found")
        model = request.app.state.model
        if model is None:
            raise HTTPException(503, "model not loaded")
        return model

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> dict[str, str]:
        if request.app.state.model is None:
            raise HTTPException(503, "model not loaded")
        return {"status": "ready"}

    @app.get("/v1/models/{name}")
    async def metadata(name: str, request: Request) -> dict:
        model = model_or_503(request, name)
        return {
            "name": settings.model_name,
            "version": settings.model_version,
            "inputs": [model.input.__dict__],
            "outputs": [o.__dict__ for o in model.outputs],
            "max_batch_size": settings.max_batch_size,
        }

    @app.post("/v1/models/{name}:predict", response_model=PredictResponse)
    async def predict(name: str, body: PredictRequest, request: Request) -> PredictResponse:
        model = model_or_503(request, name)
        if len(body.instances) > settings.max_batch_size:
            raise HTTPException(413, f"batch larger than {settings.max_batch_size} instances")
        started = time.perf_counter()
        try:
            # ONNX Runtime releases the GIL; running it in a thread keeps the event loop free.
            outputs = await run_in_threadpool(model.predict, body.instances)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return PredictResponse(
            model_name=settings.model_name,
            model_version=settings.model_version,
            predictions=outputs,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    return app
