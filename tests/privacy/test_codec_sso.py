"""The codec server behind single sign-on: the Temporal UI forwards the signed-in user's
access token, and only a valid token of the configured provider, audience and group opens
case data. A real identity provider's endpoints (OpenID discovery and JWKS) are served over
HTTP on loopback; tokens are signed with its RSA key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from enforcement.privacy.codec import EncryptionConfigError
from enforcement.privacy.codec_server import create_app
from tests.privacy.test_privacy import KEY_A, SUBJECT, body, converter, parsed, settings

AUDIENCE = "temporal-ui"
GROUP = "case-readers"


class Provider:
    """An identity provider on 127.0.0.1: discovery document, JWKS, and token signing."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "sso-1"
        self.jwks_hits = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    doc: dict[str, Any] = {"issuer": provider.issuer,
                                           "jwks_uri": f"{provider.issuer}/keys"}
                elif self.path == "/keys":
                    provider.jwks_hits += 1
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
                        provider.key.public_key()))
                    doc = {"keys": [{**jwk, "kid": provider.kid, "use": "sig",
                                     "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key: Any = None, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": AUDIENCE, "sub": "agent-42", "iat": now,
                   "exp": now + 300, "groups": [GROUP], **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or self.key, algorithm="RS256",
                          headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.server.shutdown()


def client(provider: Provider, **more: Any) -> httpx.AsyncClient:
    app = create_app(settings({"key-a": KEY_A}, codec_server_token=SecretStr("cli-token"),
                              codec_server_oidc_issuer=provider.issuer,
                              codec_server_oidc_audience=AUDIENCE,
                              codec_server_oidc_group=GROUP, **more))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


async def decode(http: httpx.AsyncClient, token: str) -> httpx.Response:
    sealed = await converter({"key-a": KEY_A}).encode([SUBJECT])
    return await http.post("/decode", json=body(sealed),
                           headers={"Authorization": f"Bearer {token}"})


async def test_a_signed_in_readers_token_opens_case_data(provider: Provider) -> None:
    async with client(provider) as http:
        r = await decode(http, provider.token())
        assert r.status_code == 200, r.text
        [plain] = parsed(r.json())
        assert SUBJECT in plain.data.decode()
        # the CLI's static token still works beside the sign-on
        assert (await decode(http, "cli-token")).status_code == 200


@pytest.mark.parametrize(("claims", "status", "says"), [
    ({"exp": int(time.time()) - 3600}, 401, "token expired"),
    ({"aud": "another-app"}, 401, "not issued for 'temporal-ui'"),
    ({"iss": "https://sso.elsewhere.example"}, 401, "not issued by"),
    ({"sub": None}, 401, "invalid token"),
    ({"groups": ["press-office"]}, 403, "not in 'case-readers'"),
    ({"groups": None, "roles": [GROUP]}, 200, ""),
])
async def test_tokens_that_do_not_open_case_data(provider: Provider, claims: dict[str, Any],
                                                 status: int, says: str) -> None:
    async with client(provider) as http:
        r = await decode(http, provider.token(**claims))
        assert r.status_code == status, r.text
        if status != 200:
            assert says in r.json()["detail"]
            assert SUBJECT not in r.text


async def test_a_token_signed_with_another_key_is_refused(provider: Provider) -> None:
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with client(provider) as http:
        same_kid = await decode(http, provider.token(key=forger))
        assert same_kid.status_code == 401 and "invalid token" in same_kid.json()["detail"]
        unknown_kid = await decode(http, provider.token(key=forger, kid="sso-9"))
        assert unknown_kid.status_code == 401
        assert "does not publish" in unknown_kid.json()["detail"]
        assert (await decode(http, "not-a-jwt")).status_code == 401


async def test_keys_come_from_discovery_once_and_an_unreachable_provider_is_503(
        provider: Provider) -> None:
    before = provider.jwks_hits
    async with client(provider) as http:
        for _ in range(3):
            assert (await decode(http, provider.token())).status_code == 200
    assert provider.jwks_hits - before == 1  # cached between requests
    gone = settings({"key-a": KEY_A}, codec_server_oidc_issuer="http://127.0.0.1:9",
                    codec_server_oidc_audience=AUDIENCE)
    app = create_app(gone)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://codec") as http:
        r = await decode(http, provider.token())
        assert r.status_code == 503 and "unreachable" in r.json()["detail"]


def test_sign_on_needs_an_audience() -> None:
    with pytest.raises(EncryptionConfigError, match="AUDIENCE is required"):
        create_app(settings({"key-a": KEY_A}, codec_server_oidc_issuer="https://sso.example"))
