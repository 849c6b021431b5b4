"""Who may do what: bearer tokens mapped to grants (regulator, controller, viewer), and the
dependencies that check them on every route."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from temporalio.client import Client

from enforcement.case.models import CaseStatus, Role
from enforcement.interfaces.api.errors import ApiError
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import get_case

ROLES: tuple[Role, ...] = ("regulator", "controller", "viewer")
# What a controller under procedure may send about its own case.
CONTROLLER_EVENTS = ("compliance_evidence_submitted", "observations_submitted", "appeal_lodged",
                     "representations_made")


class Grant(BaseModel):
    """What a bearer token may do: its role, and for a controller, whose cases it reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    controller: str | None = Field(default=None, min_length=1,
                                   description="the controller's name, as in its cases")
    name: str | None = Field(default=None, description="who holds the token, for the logs")

    @model_validator(mode="after")
    def _controller_named(self) -> Grant:
        if self.role == "controller" and not self.controller:
            raise ValueError("a controller token needs 'controller': the controller's name")
        if self.role != "controller" and self.controller:
            raise ValueError("only a controller token names a 'controller'")
        return self

    @property
    def holder(self) -> str:
        """Who records what this token sends: its named holder, else its role."""
        return self.name or f"{self.role} token"

    def owns(self, status: CaseStatus) -> bool:
        return self.role != "controller" or _same_name(status.controller.name,
                                                       self.controller or "")


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class TokenError(ValueError):
    """ENFORCE_API_TOKENS or the token file is malformed; the message says where."""


def load_grants(settings: Settings) -> dict[str, Grant]:
    """Tokens from ENFORCE_API_TOKENS, else from the token file (`make run` writes one)."""
    raw: dict[str, Any] = dict(settings.api_tokens)
    where = "ENFORCE_API_TOKENS"
    if not raw and settings.api_tokens_file.is_file():
        where = str(settings.api_tokens_file)
        try:
            raw = json.loads(settings.api_tokens_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TokenError(f"{where}: cannot read the tokens: {exc}") from None
        if not isinstance(raw, dict):
            raise TokenError(f"{where}: expected a JSON object token -> grant")
    grants = {}
    for token, grant in raw.items():
        if len(token) < 16:
            raise TokenError(f"{where}: a token must have at least 16 characters "
                             f"({token[:4]}... is shorter)")
        try:
            grants[token] = Grant.model_validate(grant)
        except ValidationError as exc:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise TokenError(f"{where}: token {token[:4]}...: {msgs}") from None
    return grants


@dataclass
class EngineState:
    """What every route shares: the settings, the Temporal client (connected at start-up)
    and the tokens' grants."""

    settings: Settings
    client: Client | None
    grants: dict[str, Grant]
    secret: bytes  # the key of the controllers' keyed hashes

    @property
    def temporal(self) -> Client:
        if self.client is None:
            raise ApiError(503, "not connected to Temporal yet")
        return self.client


def engine_state(request: Request) -> EngineState:
    state: EngineState = request.app.state.engine
    return state


Engine = Annotated[EngineState, Depends(engine_state)]

_bearer = HTTPBearer(auto_error=False, description="a token from ENFORCE_API_TOKENS")


def _grant(request: Request, creds: HTTPAuthorizationCredentials | None) -> Grant:
    """The grant of the request's bearer token (401 without a known one)."""
    if creds is None or not creds.credentials:
        raise ApiError(401, "a bearer token is required: Authorization: Bearer <token>")
    given = creds.credentials.encode("utf-8", "surrogateescape")
    for token, grant in engine_state(request).grants.items():
        if hmac.compare_digest(token.encode(), given):
            return grant
    raise ApiError(401, "unknown bearer token")


def allow(*roles: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None],
                                    Awaitable[Grant]]:
    """A dependency: the caller's grant, 403 unless its role is one of `roles`."""
    async def check(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None,
                                                       Depends(_bearer)]) -> Grant:
        grant = _grant(request, creds)
        if grant.role not in roles:
            raise ApiError(403, f"the {grant.role} role may not do this; it needs: "
                                f"{' or '.join(roles)}")
        return grant
    return check


Anyone = Annotated[Grant, Depends(allow(*ROLES))]
Regulator = Annotated[Grant, Depends(allow("regulator"))]


async def readable_case(state: EngineState, grant: Grant, case_id: str) -> CaseStatus:
    """The case, if the grant may read it."""
    status = await get_case(state.temporal, case_id)
    if not grant.owns(status):
        # answered as for a case that does not exist: a controller does not learn which
        # case ids are in use
        raise ApiError(404, f"no case {case_id!r}")
    return status
