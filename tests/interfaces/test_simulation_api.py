"""POST /simulations and GET /simulations/scenarios: the in-process engine behind the API,
bounded, answering bad files with the loader's line. The app is the real one (create_app);
no Temporal server is needed, and none is dialled: a simulation never touches a case."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from temporalio.client import Client

from enforcement.interfaces.api import create_app
from enforcement.ops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VIEWER = "viewer-token-for-simulations-0123"
TOKENS = {VIEWER: {"role": "viewer"}}


@pytest.fixture(scope="module")
def http() -> TestClient:
    cfg = Settings(api_tokens=TOKENS, controller_key=SecretStr("simulation-tests-key"))
    app = create_app(cfg, cast(Client, object()))  # connected: never used by these routes
    return TestClient(app)


def post(http: TestClient, body: dict[str, Any], token: str = VIEWER) -> Any:
    return http.post("/simulations", json=body, headers={"Authorization": f"Bearer {token}"})


def due(run: dict[str, Any], name: str) -> list[str]:
    return [d["due"] for d in run["deadlines"] if d["name"] == name]


def test_shipped_scenarios_are_listed(http: TestClient) -> None:
    r = http.get("/simulations/scenarios", headers={"Authorization": f"Bearer {VIEWER}"})
    assert r.status_code == 200, r.text
    by_name = {s["name"]: s for s in r.json()}
    assert {"clearview", "uk-ico", "clearview-uncertain"} <= set(by_name)
    assert by_name["clearview"]["what_ifs"][0] == "one-month extension"


def test_clearview_through_the_api(http: TestClient) -> None:
    r = post(http, {"shipped": "clearview"})
    assert r.status_code == 200, r.text
    doc = r.json()
    [base] = [x for x in doc["runs"] if x["variant"] == "scenario"]
    # Formal notice received Fri 26 Nov 2021 + 2 months = Wed 26 Jan 2022; decision notified
    # Mon 17 Oct 2022 + 2 months = Sat 17 Dec -> Mon 19 Dec 2022 (CPC 642).
    assert due(base, "formal_notice_compliance") == ["2022-01-26"]
    assert due(base, "injunction_compliance") == ["2022-12-19"]
    # 20 Dec 2022 to the 9 Feb 2023 cut-off: 12 + 31 + 9 = 52 days x EUR 100,000
    assert base["sanction"]["penalty_eur"] == 5_200_000
    assert base["category"] == "sanctioned"
    assert {v["variant"] for v in doc["summary"]["variants"]} == {
        "one-month extension", "complies 30 days late", "never complies, no liquidation yet"}


def test_a_batch_gives_shares_and_percentiles_not_every_run(http: TestClient) -> None:
    r = post(http, {"shipped": "clearview-uncertain", "runs": 40, "seed": 5})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [x["run"] for x in doc["runs"]] == [None]  # the drawn runs are summarized
    batch = doc["summary"]["batch"]["by_variant"]["scenario"]
    assert batch["runs"] == 40 and batch["shares"] == {"sanctioned": 1.0}
    days = batch["amounts"]["penalty_days"]
    assert days["n"] == 40 and days["min"] <= days["p50"] <= days["max"]


def test_an_uploaded_file_with_an_error_gets_the_loaders_line(http: TestClient) -> None:
    text = (ROOT / "scenarios" / "clearview.yaml").read_text().replace(
        "type: hearing_held", "type: hearing_hold", 1)
    r = post(http, {"scenario": text})
    assert r.status_code == 422, r.text
    line = text.splitlines().index("  - type: hearing_hold") + 1
    assert f"scenario.yaml:{line}: events[" in r.json()["detail"]
    assert "unknown event type 'hearing_hold'" in r.json()["detail"]


def test_bounds(http: TestClient) -> None:
    # an alias bomb: nine levels of ten aliases would be 10^9 values
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    r = post(http, {"scenario": bomb})
    assert r.status_code == 422 and "more than 20,000 values once its aliases are expanded" \
        in r.json()["detail"], r.text
    r = post(http, {"shipped": "clearview-uncertain", "runs": 5001})
    assert r.status_code == 422
    r = post(http, {"shipped": "clearview", "scenario": "procedure: fr-cnil"})
    assert r.status_code == 422 and "exactly one of shipped" in r.text
    r = post(http, {"shipped": "nope"})
    assert r.status_code == 422 and "accepted: " in r.json()["detail"]
    r = post(http, {"scenario": "x" * 70_000})
    assert r.status_code == 422
    assert post(http, {"shipped": "clearview"}, token="wrong").status_code == 401
