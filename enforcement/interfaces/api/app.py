"""The HTTP API: complaint intake, events, status, listings, calendars, procedures and the
deadline calculator, over the same pydantic models as the CLI and the workflows.

Thin: requests are validated by the models of `enforcement.case.models`, cases are reached
only through `enforcement.ops.temporal`, dates only through the time-limit core. Errors always
come back as JSON with a `detail` sentence: 401 without a valid bearer token, 403 for a role
the token does not grant, 404 for an unknown case (or another controller's), 409 for an event
the case refuses (with its stage and the events it accepts now), 422 naming each wrong field,
503 when Temporal does not answer.

The routes are in `cases.py` and `procedures.py`; who may call them in `access.py`; the error
answers in `errors.py`. Run it with `make run` (embedded dev server, worker and API together),
or alone against a running Temporal with
`uvicorn --factory enforcement.interfaces.api:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import Depends, FastAPI
from temporalio.client import Client

from enforcement.families import all_procedures
from enforcement.interfaces.api import cases, procedures, simulations
from enforcement.interfaces.api.access import CONTROLLER_EVENTS, EngineState, load_grants
from enforcement.interfaces.api.errors import install, known_query
from enforcement.interfaces.console import install as install_console
from enforcement.ops.logs import configure
from enforcement.ops.settings import Settings, get_settings
from enforcement.ops.temporal import connect


def _only_procedures(schema: dict[str, Any], names: list[str]) -> None:
    props = schema["components"]["schemas"]["CaseInput"]["properties"]
    props["procedure"]["enum"] = names
    for path in schema["paths"].values():
        for op in path.values():
            for param in op.get("parameters", []):
                if param["name"] == "procedure":
                    target = param["schema"]
                    target = next((a for a in target.get("anyOf", []) if a.get("type")
                                   == "string"), target)
                    target["enum"] = names


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    """The API app. Without `client` it connects at start-up (TEMPORAL_ADDRESS, or the
    embedded dev server's address)."""
    settings = settings or get_settings()
    if not structlog.is_configured():  # under `uvicorn --factory`: JSON logs, redacted
        configure(settings.log_level, settings.log_json)
    state = EngineState(settings, client, load_grants(settings),
                        secret=settings.controller_secret())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if state.client is None:
            state.client = await connect(settings)
        yield

    app = FastAPI(
        title="Enforcement engine",
        version="0.1.0",
        description=(
            "Data-protection enforcement procedures as durable workflows. Every request "
            "carries `Authorization: Bearer <token>`; tokens map to roles in "
            "ENFORCE_API_TOKENS: `regulator` does everything, `controller` reads its own cases "
            "and sends the controller's events (" + ", ".join(CONTROLLER_EVENTS) + "), "
            "`viewer` reads."),
        lifespan=lifespan, docs_url=None, redoc_url=None,
        dependencies=[Depends(known_query)])
    app.state.engine = state
    install(app)
    app.include_router(cases.router)
    app.include_router(procedures.router)
    app.include_router(simulations.router)

    generated = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated schema, with the procedures this engine has as the only values of
        every `procedure` (read from the procedure files, so not known to the models)."""
        if app.openapi_schema is None:
            _only_procedures(generated(), sorted(all_procedures()))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    _offline_docs(app)
    install_console(app)

    @app.get("/health", tags=["service"], include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok" if state.client is not None else "starting"}

    return app


DOC_ASSETS = "/docs/assets"


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, their scripts, style sheet and icon served
    by the app itself from the fastapi-offline package (Swagger UI: Apache-2.0, ReDoc: MIT,
    the package: MIT), never from a CDN: the pages work on a machine with no internet."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse, Response
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).parent / "static"
    # ReDoc's bundle always shows Redocly's logo from its CDN in the credit line: served
    # with that one address replaced by an empty inline image (the credit's text stays)
    redoc_js = (static / "redoc.standalone.js").read_text(encoding="utf-8").replace(
        "https://cdn.redoc.ly/redoc/logo-mini.svg",
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E")
    assert "https://cdn." not in redoc_js, "ReDoc's bundle names another CDN address"

    @app.get(f"{DOC_ASSETS}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(redoc_js, media_type="text/javascript; charset=utf-8")

    app.mount(DOC_ASSETS, StaticFiles(directory=static), name="doc-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API",
            swagger_js_url=f"{DOC_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOC_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOC_ASSETS}/favicon.png",
            # no badge that sends the schema to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API",
            redoc_js_url=f"{DOC_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOC_ASSETS}/favicon.png", with_google_fonts=False)
