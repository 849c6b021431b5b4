"""The web console: server-rendered pages for case officers and analysts, served by the API's
app on the same port (`GET /` opens it). Sign-in with an API token; every page checks the
token's role as the API does."""

from enforcement.interfaces.console.pages import PREFIX, install

__all__ = ["PREFIX", "install"]
