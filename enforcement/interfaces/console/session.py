"""The console's session: a signed cookie naming the token's grant, and a CSRF token that
every state-changing form carries.

The cookie holds a keyed digest of the token, never the token itself, and its own CSRF
token; it is HttpOnly, SameSite=Strict, and Secure when the page came over TLS. It is
signed with a key derived from the engine's secret (the controllers' key file), so it
survives a restart and a token removed from ENFORCE_API_TOKENS stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from enforcement.interfaces.api.access import EngineState, Grant

COOKIE = "ee_session"
PRE_COOKIE = "ee_signin"  # the sign-in form's CSRF token, before there is a session
MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class Session:
    grant: Grant
    csrf: str
    sid: str = ""


# Sessions signed out before their cookie expires, by id, with when they would expire: a
# copy of a signed-out cookie no longer works in this process (a restart forgets the list;
# the cookie's own age limit still holds).
_revoked: dict[str, float] = {}


def _key(state: EngineState) -> bytes:
    return hmac.new(state.secret, b"console-session", hashlib.sha256).digest()


def _serializer(state: EngineState, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_key(state), salt=salt)


def token_digest(state: EngineState, token: str) -> str:
    return hmac.new(_key(state), token.encode("utf-8", "surrogateescape"),
                    hashlib.sha256).hexdigest()


def grant_of(state: EngineState, token: str) -> Grant | None:
    """The grant of a token typed at sign-in (compared in constant time)."""
    given = token.strip().encode("utf-8", "surrogateescape")
    for known, grant in state.grants.items():
        if hmac.compare_digest(known.encode(), given):
            return grant
    return None


def _by_digest(state: EngineState, digest: str) -> Grant | None:
    for known, grant in state.grants.items():
        if hmac.compare_digest(token_digest(state, known), digest):
            return grant
    return None


def _cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(name, value, max_age=MAX_AGE, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


def start(state: EngineState, request: Request, response: Response, token: str) -> None:
    value = _serializer(state, "session").dumps(
        {"g": token_digest(state, token.strip()), "c": secrets.token_urlsafe(24),
         "s": secrets.token_urlsafe(12), "t": time.time()})
    _cookie(response, request, COOKIE, value)
    response.delete_cookie(PRE_COOKIE, path="/")


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def revoke(session: Session) -> None:
    """Sign-out: the session's cookie stops working even if a copy is kept."""
    now = time.time()
    for sid, until in list(_revoked.items()):
        if until < now:
            del _revoked[sid]
    if session.sid:
        _revoked[session.sid] = now + MAX_AGE


def current(state: EngineState, request: Request) -> Session | None:
    """The request's session, or None (no cookie, a bad signature, expired, or a token the
    engine no longer knows)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(state, "session").loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("g"), str):
        return None
    sid = str(data.get("s", ""))
    if sid in _revoked:
        return None
    grant = _by_digest(state, data["g"])
    return None if grant is None else Session(grant, str(data.get("c", "")), sid)


def signin_csrf(state: EngineState, request: Request, response: Response) -> str:
    """The sign-in form's CSRF token: kept in its own signed cookie."""
    token = secrets.token_urlsafe(24)
    _cookie(response, request, PRE_COOKIE,
            _serializer(state, "signin").dumps(token))
    return token


def signin_csrf_ok(state: EngineState, request: Request, sent: str) -> bool:
    raw = request.cookies.get(PRE_COOKIE)
    if not raw or not sent:
        return False
    try:
        token = _serializer(state, "signin").loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return False
    return isinstance(token, str) and hmac.compare_digest(token, sent)


FLASH = "ee_flash"


def flash(state: EngineState, request: Request, response: Response, text: str) -> None:
    """A message for the next page only (what was just recorded): signed, so a link cannot
    make the page claim something was done."""
    response.set_cookie(FLASH, _serializer(state, "flash").dumps(text), max_age=60,
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


def take_flash(state: EngineState, request: Request, response: Response) -> str:
    raw = request.cookies.get(FLASH)
    if not raw:
        return ""
    response.delete_cookie(FLASH, path="/")
    try:
        text = _serializer(state, "flash").loads(raw, max_age=60)
    except BadSignature:
        return ""
    return text if isinstance(text, str) else ""


def csrf_ok(session: Session, sent: str) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent)
