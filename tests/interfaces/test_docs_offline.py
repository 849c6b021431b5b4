"""/docs (Swagger UI) and /redoc (ReDoc) work on a machine with no internet: every script,
style sheet and icon they name is served by the app itself. (A browser's request log is the
console's test, issue #16; here, the pages and their assets over HTTP.)"""

from __future__ import annotations

import re
from typing import cast

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from temporalio.client import Client

from enforcement.interfaces.api import create_app
from enforcement.ops.settings import Settings


@pytest.fixture(scope="module")
def http() -> TestClient:
    cfg = Settings(api_tokens={"viewer-token-for-docs-0123": {"role": "viewer"}},
                   controller_key=SecretStr("docs-tests-key"))
    return TestClient(create_app(cfg, cast(Client, object())))


@pytest.mark.parametrize(("page", "needs"), [
    ("/docs", {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"}),
    ("/redoc", {"/docs/assets/redoc.standalone.js"}),
])
def test_documentation_pages_load_nothing_from_outside(http: TestClient, page: str,
                                                       needs: set[str]) -> None:
    r = http.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    named = set(re.findall(r'(?:src|href)="([^"]+)"', r.text))
    named |= set(re.findall(r"(?:src|href)='([^']+)'", r.text))
    assert needs <= named
    outside = [u for u in named | set(re.findall(r"https?://[^\s'\"]+", r.text))
               if not u.startswith("/")]
    assert outside == [], outside
    assert "fonts.googleapis" not in r.text and "validator.swagger.io" not in r.text
    for url in named:
        asset = http.get(url)
        assert asset.status_code == 200 and len(asset.content) > 500, url
    assert "/openapi.json" in r.text and http.get("/openapi.json").status_code == 200
