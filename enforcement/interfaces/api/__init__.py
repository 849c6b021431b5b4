"""The HTTP API (FastAPI): `create_app` assembles it (app.py) from its routers (cases.py,
procedures.py), its access rules (access.py) and its error answers (errors.py)."""

from enforcement.interfaces.api.access import CONTROLLER_EVENTS, Grant, TokenError, load_grants
from enforcement.interfaces.api.app import create_app

__all__ = ["CONTROLLER_EVENTS", "Grant", "TokenError", "create_app", "load_grants"]
