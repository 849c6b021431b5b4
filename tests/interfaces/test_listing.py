"""The case listing at a regulator's scale: a controller's cases found by one query on the
keyed hash of its name, every page reached by its cursor, nothing dropped.

Before: a controller's listing asked each candidate case for its status (38 s at about
1,000 cases), and past 1,000 candidates its own cases silently went missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from enforcement.case.models import CaseInput
from enforcement.ops.temporal import open_case
from tests.fixtures_stack import CLEARVIEW_TOKEN, CONTROLLER_SECRET, REGULATOR, Stack
from tests.interfaces.test_api import TODAY, auth, eventually

OTHERS = 1_048  # another controller's cases, opened first
OWN = ["LIST-OWN-1", "LIST-OWN-2"]
IDLE = "LIST-ACME-IDLE"  # Acme's too, on a task queue no worker polls: never run


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An engine holding 1,048 cases of Acme (and one more that no worker has taken up
    yet), then two keyed and one unkeyed of Clearview, each with its complaint of
    today."""
    with Stack(tmp_path_factory.mktemp("listing")) as stack:
        assert stack.client is not None
        client = stack.client
        gate = asyncio.Semaphore(32)

        async def one(case_id: str, name: str, keyed: bool = True,
                      complaint: bool = True, queue: str = stack.task_queue) -> None:
            case = CaseInput.model_validate({
                "case_id": case_id, "controller": {"name": name, "country": "FR"},
                "events": [{"type": "complaint_received", "date": TODAY.isoformat(),
                            "subject": "s", "complainant_ref": "c"}] if complaint else []})
            async with gate:
                await open_case(client, case, queue,
                                secret=CONTROLLER_SECRET if keyed else None)

        async def fill() -> None:
            # opened with no event (no deadline yet): light on the worker
            await asyncio.gather(*(one(f"LIST-ACME-{i:04d}", "Acme SA", complaint=False)
                                   for i in range(OTHERS)))
            await one(IDLE, "Acme SA", complaint=False, queue="nobody-polls-this")
            # spaces and case as a person types them: the same controller
            await one(OWN[0], "Clearview AI Inc.")
            await one(OWN[1], "  clearview  ai inc.")
            await one("LIST-OLD-1", "Clearview AI Inc.", keyed=False)

        stack.call(fill())
        yield stack


def page(http: httpx.Client, token: str, **params: object) -> dict[str, object]:
    r = http.get("/cases", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_a_controller_among_a_thousand_cases_gets_its_own_and_hears_of_the_rest(
        crowded: Stack) -> None:
    with httpx.Client(base_url=crowded.base_url, timeout=60) as http:
        def own_listed() -> bool:
            body = page(http, CLEARVIEW_TOKEN, limit=1000)
            return [c["case_id"] for c in body["cases"]] == OWN  # type: ignore[attr-defined]
        eventually(own_listed, "the controller's two keyed cases listed", seconds=120)
        body = page(http, CLEARVIEW_TOKEN, limit=1000)
        assert (body["count"], body["next_cursor"]) == (2, None)
        # the case opened without a key is not silently lost; a keyed case waiting for a
        # worker is not counted unkeyed
        assert body["unkeyed"] == 1


def test_every_case_is_on_exactly_one_page(crowded: Stack) -> None:
    total = OTHERS + len(OWN) + 2
    with httpx.Client(base_url=crowded.base_url, timeout=60) as http:
        def settled() -> bool:  # every case visible, Clearview's with their deadline
            first = page(http, REGULATOR, limit=1000)
            heads = [c["case_id"] for c in first["cases"][:3]]  # type: ignore[index]
            return bool(first["next_cursor"]) and heads == ["LIST-OLD-1", *OWN] and page(
                http, REGULATOR, limit=1000, cursor=str(first["next_cursor"])
            )["count"] == total - 1000
        eventually(settled, "all cases visible with their deadlines", seconds=120)
        first = page(http, REGULATOR, limit=1000)
        assert first["count"] == 1000 and first["next_cursor"]
        second = page(http, REGULATOR, limit=1000, cursor=first["next_cursor"])
        assert second["next_cursor"] is None
        ids = [c["case_id"] for p in (first, second)
               for c in p["cases"]]  # type: ignore[attr-defined]
        assert len(ids) == len(set(ids)) == total
        # earliest deadline first across the pages: Clearview's three cases have the same
        # progress deadline (three months after today's complaint), Acme's none yet; ties
        # by id
        assert ids == ["LIST-OLD-1", *OWN, *(f"LIST-ACME-{i:04d}" for i in range(OTHERS)),
                       IDLE]
        r = http.get("/cases", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=auth(REGULATOR))
        assert r.status_code == 422 and "not a cursor this listing gives" in r.text
