"""Access tokens from the authority's single sign-on, checked by the codec server.

The Temporal UI, behind single sign-on, forwards the signed-in user's access token to the
codec endpoint (`TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true`). The codec server decrypts case data
only for a token that this module accepts: a JWT signed by one of the provider's keys (its
JWKS, found through OpenID discovery from the issuer, or configured), not expired, issued by
ENFORCE_CODEC_SERVER_OIDC_ISSUER for ENFORCE_CODEC_SERVER_OIDC_AUDIENCE, and, when
ENFORCE_CODEC_SERVER_OIDC_GROUP is set, naming that group in its `groups` or `roles` claim.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from enforcement.ops.settings import Settings
from enforcement.privacy.codec import EncryptionConfigError

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
              "ES512", "EdDSA"]
LEEWAY_SECONDS = 30  # clock skew between the provider and this server


class TokenRefused(Exception):
    """A token the codec server does not accept; `status` is 401 (not a valid token) or 403
    (valid, but its holder may not read case data)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Verifier:
    issuer: str
    audience: str
    jwks_url: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Verifier | None:
        if not settings.codec_server_oidc_issuer:
            return None
        if not settings.codec_server_oidc_audience:
            raise EncryptionConfigError("ENFORCE_CODEC_SERVER_OIDC_AUDIENCE is required with "
                                        "ENFORCE_CODEC_SERVER_OIDC_ISSUER: a token for any "
                                        "other application must not open case data")
        return cls(settings.codec_server_oidc_issuer, settings.codec_server_oidc_audience,
                   settings.codec_server_oidc_jwks_url, settings.codec_server_oidc_group)

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self.jwks_url or _discover(self.issuer)
                self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=600)
            return self._client

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; TokenRefused saying why it is not accepted. Blocking (it may
        fetch the provider's keys): run it in a thread."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenRefused(401, "invalid bearer token") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefused(401, f"token algorithm {header.get('alg')!r} not accepted; "
                               f"accepted: {', '.join(ALGORITHMS)}")
        try:
            key = self._keys().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise TokenRefused(503, f"the sign-on provider's keys are unreachable: {exc}") \
                from None
        except jwt.PyJWKClientError:
            raise TokenRefused(401, "token signed with a key the sign-on provider does not "
                               "publish") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=ALGORITHMS, audience=self.audience,
                issuer=self.issuer, leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise TokenRefused(401, "token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(401, f"token not issued for {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(401, f"token not issued by {self.issuer}") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(401, f"invalid token: {exc}") from None
        if self.group is not None:
            held = [*_strings(claims.get("groups")), *_strings(claims.get("roles"))]
            if self.group not in held:
                raise TokenRefused(403, f"the token's holder is not in {self.group!r}, the "
                                   f"group that may read case data")
        return claims


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _discover(issuer: str) -> str:
    """The JWKS URL from the issuer's OpenID discovery document."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.load(resp)
    except (OSError, ValueError) as exc:
        raise TokenRefused(503, f"the sign-on provider's discovery document {url} is "
                           f"unreachable: {exc}") from None
    jwks = doc.get("jwks_uri") if isinstance(doc, dict) else None
    if not isinstance(jwks, str):
        raise TokenRefused(503, f"{url} names no jwks_uri")
    return jwks
