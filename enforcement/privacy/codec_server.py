"""The codec server: lets the Temporal UI and CLI show the encrypted payloads of a case to
the people allowed to see them, without the keys ever leaving this process.

It speaks Temporal's remote codec protocol: `POST /encode` and `POST /decode` take and
return `{"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}]}` (the
JSON form of `temporal.api.common.v1.Payloads`). Every call needs `Authorization: Bearer
<token>` (401 otherwise), where the token is ENFORCE_CODEC_SERVER_TOKEN (the CLI, scripts)
or, with ENFORCE_CODEC_SERVER_OIDC_ISSUER set, a user's access token from that single
sign-on provider (the Temporal UI forwards it; enforcement/privacy/sso.py checks it, 403 for a user
outside ENFORCE_CODEC_SERVER_OIDC_GROUP). Each call is logged with the token's subject
(`user`), for the audit trail. The UI's origins in ENFORCE_CODEC_SERVER_CORS_ORIGINS may call
it from the browser.
`GET /health` needs no token and says nothing about the keys.

Run: `python -m enforcement.privacy.codec_server` (ENFORCE_CODEC_SERVER_HOST/_PORT, default
127.0.0.1:8081), or `uvicorn --factory enforcement.privacy.codec_server:create_app`.
CLI: `temporal workflow show -w CASE --codec-endpoint http://127.0.0.1:8081
--codec-auth "Bearer $TOKEN"`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Annotated, Any

import structlog
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from enforcement.ops.logs import configure
from enforcement.ops.settings import Settings, get_settings
from enforcement.privacy.codec import (
    DecryptionFailed,
    EncryptionCodec,
    EncryptionConfigError,
    KeyRing,
    UnknownEncryptionKey,
)
from enforcement.privacy.sso import TokenRefused, Verifier

log = structlog.get_logger("codec_server")

MAX_BODY_BYTES = 32 * 1024 * 1024  # a batch of payloads; each is at most 2 MiB in Temporal
BEARER = HTTPBearer(auto_error=False)


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def create_app(settings: Settings | None = None, codec: PayloadCodec | None = None) -> FastAPI:
    """The codec server app. Refuses to be built without a token, or without keys (unless a
    codec is given)."""
    settings = settings or get_settings()
    verifier = Verifier.from_settings(settings)
    token = (settings.codec_server_token.get_secret_value().encode()
             if settings.codec_server_token is not None else b"")
    if not token and verifier is None:
        raise EncryptionConfigError("ENFORCE_CODEC_SERVER_TOKEN or ENFORCE_CODEC_SERVER_OIDC_"
                                    "ISSUER is required: the codec server decrypts case data "
                                    "and never runs without auth")
    if codec is None:
        if not settings.encryption_keys:
            raise EncryptionConfigError("ENFORCE_ENCRYPTION_KEYS is empty: there is nothing "
                                        "for a codec server to decrypt with")
        codec = EncryptionCodec(KeyRing.from_settings(settings))
    the_codec = codec

    app = FastAPI(title="Enforcement engine codec server", version="0.1.0",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.codec_server_cors_origins,
        allow_credentials=True, allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"], max_age=600)

    async def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                Depends(BEARER)]) -> str:
        """Who is asking: "token" for the static token, else the SSO token's subject."""
        if credentials is None:
            raise _Refused(401, "missing bearer token")
        given = credentials.credentials.encode()
        if token and hmac.compare_digest(given, token):
            return "token"
        if verifier is None:
            raise _Refused(401, "invalid bearer token")
        try:
            claims = await asyncio.to_thread(verifier.verify, credentials.credentials)
        except TokenRefused as exc:
            log.warning("codec.refused", status=exc.status, reason=exc.detail)
            raise _Refused(exc.status, exc.detail) from None
        return str(claims["sub"])

    @app.exception_handler(_Refused)
    async def _refused(_req: Request, exc: _Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    async def payloads_of(request: Request) -> list[Payload]:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise _Refused(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            message = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            raise _Refused(400, "the body must be JSON {\"payloads\": [{\"metadata\": "
                           "{...}, \"data\": \"<base64>\"}]}: " + _first_line(exc)) from None
        return list(message.payloads)

    def answer(payloads: list[Payload]) -> dict[str, Any]:
        return {"payloads": [json_format.MessageToDict(p) for p in payloads]}

    @app.post("/encode")
    async def encode(request: Request,
                     subject: str = Depends(authorized)) -> dict[str, Any]:
        payloads = await payloads_of(request)
        out = await the_codec.encode(payloads) if payloads else []
        log.info("codec.encode", payloads=len(payloads), user=subject,
                 namespace=request.headers.get("x-namespace"))
        return answer(out)

    @app.post("/decode")
    async def decode(request: Request,
                     subject: str = Depends(authorized)) -> dict[str, Any]:
        payloads = await payloads_of(request)
        try:
            out = await the_codec.decode(payloads) if payloads else []
        except (UnknownEncryptionKey, DecryptionFailed) as exc:
            log.warning("codec.decode_failed", payloads=len(payloads), error=str(exc))
            raise _Refused(422, str(exc)) from None
        log.info("codec.decode", payloads=len(payloads), user=subject,
                 namespace=request.headers.get("x-namespace"))
        return answer(out)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def main() -> None:
    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    try:
        app = create_app(settings)
    except EncryptionConfigError as exc:
        log.error("codec server not started", error=str(exc))
        raise SystemExit(2) from None
    log.info("codec server", host=settings.codec_server_host, port=settings.codec_server_port,
             origins=json.dumps(settings.codec_server_cors_origins))
    uvicorn.run(app, host=settings.codec_server_host, port=settings.codec_server_port,
                log_config=None, proxy_headers=True)


if __name__ == "__main__":
    main()
