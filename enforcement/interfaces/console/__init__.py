"""The web console: server-rendered pages for case officers and analysts, served by the API's
app on the same port (`GET /` opens it). Sign-in with an API token; every page checks the
token's role as the API does."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

PREFIX = "/console"


def install(app: FastAPI) -> None:
    """Add the console's pages and assets to the API's app (imported here: the pages use
    the API's modules, which build the app)."""
    from enforcement.interfaces.console.pages import install as add_pages

    add_pages(app)
