"""The HTTP API over real HTTP: a Temporal dev server, a worker and the API (a real uvicorn
server on a loopback port) run in a background thread; the tests call it with httpx like any
client would. Every error path and every role boundary, the calendar export, and a
schemathesis run over the OpenAPI spec that must never see a 5xx."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as ALL_CHECKS
from schemathesis.checks import load_all_checks

from enforcement.case.machine import ANYTIME
from enforcement.families import all_procedures
from enforcement.families.cnil import ACCEPTS
from enforcement.interfaces.api import CONTROLLER_EVENTS
from tests.dates import end_of_day, months_later, recent_day, working_day
from tests.fixtures_stack import (
    ACME_TOKEN,
    CLEARVIEW_TOKEN,
    REGULATOR,
    VIEWER,
    Stack,
)

T = TypeVar("T")
TODAY = date.today()
# per operation and mode: the suite's run stays well under a minute; the README's
# reliability figures come from ENFORCE_FUZZ_EXAMPLES=300
EXAMPLES = int(os.environ.get("ENFORCE_FUZZ_EXAMPLES", "20"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("api")) as s:
        yield s


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_id(prefix: str = "CASE") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def intake(case_id: str, controller: str = "Clearview AI Inc.", country: str = "US",
           procedure: str = "fr-cnil", on: date = TODAY, **extra: Any) -> dict[str, Any]:
    return {"case_id": case_id, "procedure": procedure,
            "controller": {"name": controller, "country": country},
            "complainant_ref": "C-1",
            "events": [{"type": "complaint_received", "date": on.isoformat(),
                        "subject": "facial recognition", "complainant_ref": "C-1"}], **extra}


def open_case(http: httpx.Client, case_id: str, **kw: Any) -> dict[str, Any]:
    r = http.post("/cases", json=intake(case_id, **kw), headers=auth(REGULATOR))
    assert r.status_code == 201, r.text
    return wait_status(http, case_id)


def wait_status(http: httpx.Client, case_id: str) -> dict[str, Any]:
    for _ in range(100):
        r = http.get(f"/cases/{case_id}", headers=auth(REGULATOR))
        if r.status_code == 200:
            data: dict[str, Any] = r.json()
            return data
        time.sleep(0.1)
    raise AssertionError(f"case {case_id} never answered: {r.status_code} {r.text}")


def send(http: httpx.Client, case_id: str, token: str = REGULATOR,
         **event: Any) -> httpx.Response:
    return http.post(f"/cases/{case_id}/events", json=event, headers=auth(token))


def eventually(check: Callable[[], bool], what: str, seconds: float = 15) -> None:
    """Visibility (the case listing) is eventually consistent."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"never true: {what}")


def listed(http: httpx.Client, token: str = REGULATOR, **params: str) -> list[str]:
    r = http.get("/cases", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return [c["case_id"] for c in r.json()["cases"]]


def fields(r: httpx.Response) -> set[str]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["detail"]
    return {e["field"] for e in body["errors"]}


# --- documentation and authentication ------------------------------------------------------

def test_openapi_is_served_at_docs(http: httpx.Client) -> None:
    page = http.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    spec = http.get("/openapi.json").json()
    assert set(spec["paths"]) >= {"/cases", "/cases/{case_id}", "/cases/{case_id}/events",
                                  "/cases/{case_id}/calendar.ics", "/procedures", "/deadline"}
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


ENDPOINTS = [("GET", "/cases"), ("POST", "/cases"), ("GET", "/cases/X-1"),
             ("POST", "/cases/X-1/events"), ("GET", "/cases/X-1/calendar.ics"),
             ("GET", "/procedures"), ("GET", "/deadline?start=2022-07-14&period=1%20month")]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_or_unknown_token_is_401(http: httpx.Client, method: str, path: str) -> None:
    for headers in ({}, auth("not-a-known-token-at-all"), {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer"}):
        r = http.request(method, path, headers=headers, json={})
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert "token" in r.json()["detail"]


# --- intake --------------------------------------------------------------------------------

def test_intake_opens_the_case_with_its_first_deadline(http: httpx.Client) -> None:
    cid = new_id("MED")
    r = http.post("/cases", json=intake(cid, on=date(2020, 5, 25)), headers=auth(REGULATOR))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/cases/{cid}"
    assert r.json()["case_id"] == cid and r.json()["run_id"]
    status = wait_status(http, cid)
    assert status["stage"] == "complaint"
    assert status["controller"]["name"] == "Clearview AI Inc."
    [dl] = status["deadlines"]
    # Complaint Mon 25 May 2020 + 3 months = Tue 25 Aug 2020, a working day: no roll.
    assert dl["name"] == "complainant_progress"
    assert dl["due"] == "2020-08-25"
    assert dl["explanation"][1:] == [
        "Period of 3 months from 2020-05-25 under the French Code of civil procedure, FR "
        "calendar; the day of the event is not counted (CPC art. 641).",
        "3 months after 2020-05-25 is 2020-08-25, the day with the same number "
        "(CPC art. 641).",
        "It expires at 24:00 on 2020-08-25, Europe/Paris time (2020-08-26T00:00:00+02:00)."]


def test_intake_of_an_existing_case_is_409(http: httpx.Client) -> None:
    cid = new_id()
    open_case(http, cid)
    r = http.post("/cases", json=intake(cid), headers=auth(REGULATOR))
    assert r.status_code == 409
    assert r.json()["detail"] == f"case {cid} already exists"


def test_intake_of_a_closed_case_id_is_409_not_a_new_case(http: httpx.Client) -> None:
    cid = new_id()
    open_case(http, cid)
    assert send(http, cid, type="case_closed", date=TODAY.isoformat(),
                reason="withdrawn").status_code == 200
    for _ in range(150):
        if wait_status(http, cid)["status"] == "closed":
            break
        time.sleep(0.1)
    r = http.post("/cases", json=intake(cid), headers=auth(REGULATOR))
    assert r.status_code == 409, r.text
    assert wait_status(http, cid)["outcome"] == "withdrawn"


def test_intake_422_names_every_wrong_field(http: httpx.Client) -> None:
    body = {"case_id": "has space", "controller": {"country": "FRA"},
            "events": [{"type": "complaint_received", "date": "2020-05-25"},
                       {"type": "formal_notice_issued", "date": "2021-11-26",
                        "period": "two moons"},
                       {"type": "no_such_event", "date": "2021-11-26"}],
            "surprise": 1}
    got = fields(http.post("/cases", json=body, headers=auth(REGULATOR)))
    assert {"body.case_id", "body.controller.name", "body.controller.country",
            "body.events.0.complaint_received.subject",
            "body.events.0.complaint_received.complainant_ref",
            "body.events.1.formal_notice_issued.period", "body.events.2",
            "body.surprise"} <= got


@pytest.mark.parametrize(("body", "field"), [
    ({"events": [{"type": "complaint_received", "date": "2021-11-26T10:00:00",
                  "subject": "s", "complainant_ref": "c"}]},
     "body.events.0.complaint_received.date"),
    ({"events": [{"type": "complaint_received", "date": "9999-12-31", "subject": "s",
                  "complainant_ref": "c"}]}, "events[0].date"),
    ({"procedure": "xx-nowhere"}, "procedure"),
    ({"case_id": "A-1:sanction"}, "case_id"),
])
def test_intake_422_for_values_the_engine_cannot_take(http: httpx.Client, body: dict[str, Any],
                                                      field: str) -> None:
    data = {**intake(new_id()), **body}
    assert field in fields(http.post("/cases", json=data, headers=auth(REGULATOR)))


def test_intake_422_for_a_body_that_is_not_json(http: httpx.Client) -> None:
    r = http.post("/cases", content=b"{not json", headers={
        **auth(REGULATOR), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"]


def test_intake_whose_events_do_not_fit_is_409_with_stage_and_accepted(
        http: httpx.Client) -> None:
    data = {**intake(new_id()), "events": [
        {"type": "complaint_received", "date": "2020-05-25", "subject": "s",
         "complainant_ref": "c"},
        {"type": "hearing_held", "date": "2020-06-01"}]}
    r = http.post("/cases", json=data, headers=auth(REGULATOR))
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["stage"] == "complaint"
    assert body["accepted"] == [*ACCEPTS["complaint"], *ANYTIME, "event_corrected",
                                "event_withdrawn"]
    assert "hearing_held does not fit" in body["detail"]


# --- events --------------------------------------------------------------------------------

def test_events_move_the_case_and_return_its_new_status(http: httpx.Client) -> None:
    # A recent notice (still running on the real clock) whose same-numbered day 2 months on
    # is a working day: due that day, no roll.
    day = recent_day(lambda d: working_day(months_later(d, 2), "FR"))
    due = months_later(day, 2)
    cid = new_id()
    open_case(http, cid, on=day)
    r = send(http, cid, type="formal_notice_issued", date=day.isoformat(),
             period="2 months", measures=["stop collecting"])
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["stage"] == "formal_notice"
    [dl] = [d for d in status["deadlines"] if d["name"] == "formal_notice_compliance"]
    assert dl["due"] == due.isoformat() and dl["status"] == "pending"
    assert dl["explanation"] == [
        f"Period of 2 months from {day} under the French Code of civil procedure, FR "
        f"calendar; the day of the event is not counted (CPC art. 641).",
        f"2 months after {day} is {due}, the day with the same number (CPC art. 641).",
        f"It expires at 24:00 on {due}, Europe/Paris time ({end_of_day(due)})."]


def test_event_that_does_not_fit_the_stage_is_409_with_stage_and_accepted(
        http: httpx.Client) -> None:
    cid = new_id()
    open_case(http, cid)
    r = send(http, cid, type="sanction_decided", date=TODAY.isoformat(), fine_eur=1000)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["stage"] == "complaint"
    assert body["accepted"] == [*ACCEPTS["complaint"], *ANYTIME, "event_corrected",
                                "event_withdrawn"]
    assert "sanction_decided does not fit the case at stage 'complaint'" in body["detail"]


def test_event_refused_by_a_rule_is_409_naming_the_rule(http: httpx.Client) -> None:
    cid = new_id()
    open_case(http, cid)
    r = send(http, cid, type="formal_notice_issued", date=TODAY.isoformat(), period="3 days")
    assert r.status_code == 409
    assert "under the minimum of 10 days" in r.json()["detail"]
    assert r.json()["stage"] == "complaint"


def test_event_to_a_closed_case_is_409_with_no_accepted_events(http: httpx.Client) -> None:
    cid = new_id()
    open_case(http, cid)
    assert send(http, cid, type="no_breach_found", date=TODAY.isoformat()).status_code == 200
    for _ in range(150):
        r = send(http, cid, type="investigation_opened", date=TODAY.isoformat(), kind="online")
        if r.status_code == 409:
            break
        time.sleep(0.1)
    assert r.status_code == 409, r.text
    assert r.json()["stage"] == "closed" and r.json()["accepted"] == []


def test_event_to_an_unknown_case_is_404(http: httpx.Client) -> None:
    r = send(http, "NO-SUCH-CASE", type="hearing_held", date="2022-10-13")
    assert r.status_code == 404
    assert r.json() == {"detail": "no case 'NO-SUCH-CASE'"}
    assert http.get("/cases/NO-SUCH-CASE", headers=auth(REGULATOR)).status_code == 404
    assert http.get("/cases/NO-SUCH-CASE/calendar.ics",
                    headers=auth(REGULATOR)).status_code == 404


def test_event_422_names_the_fields(http: httpx.Client) -> None:
    cid = new_id()
    got = fields(send(http, cid, type="extension_granted", date="2022-01-01",
                      deadline="formal_notice_compliance", period="1 month",
                      until="2022-03-01"))
    assert got == {"body.extension_granted"}
    got = fields(send(http, cid, type="hearing_scheduled", date="not a date"))
    assert got == {"body.hearing_scheduled.date", "body.hearing_scheduled.hearing_date"}
    got = fields(send(http, cid, type="appeal_lodged", date="2022-01-01", court=7, extra=1))
    assert got == {"body.appeal_lodged.court", "body.appeal_lodged.extra"}
    assert fields(send(http, cid, type="case_closed", date="1900-01-01")) == {"date"}
    assert fields(http.post("/cases/bad%20id/events", json={
        "type": "hearing_held", "date": "2022-10-13"}, headers=auth(REGULATOR))) == {
        "path.case_id"}


def test_same_event_id_is_applied_once(http: httpx.Client) -> None:
    cid = new_id()
    open_case(http, cid)
    for _ in range(2):
        r = send(http, cid, type="investigation_opened", date=TODAY.isoformat(),
                 kind="online", id="inv-1")
        assert r.status_code == 200
    events = [t["name"] for t in r.json()["timeline"] if t["kind"] == "event"]
    assert events == ["complaint_received", "investigation_opened"]


# --- roles ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_cases(http: httpx.Client) -> tuple[str, str]:
    """A Clearview case at the formal notice stage and an Acme case."""
    clearview, acme = new_id("CV"), new_id("ACME")
    open_case(http, clearview)
    assert send(http, clearview, type="formal_notice_issued", date=TODAY.isoformat(),
                period="2 months").status_code == 200
    open_case(http, acme, controller="Acme SA", country="FR")
    return clearview, acme


def test_viewer_reads_everything_and_writes_nothing(http: httpx.Client,
                                                    two_cases: tuple[str, str]) -> None:
    clearview, acme = two_cases
    h = auth(VIEWER)
    for cid in (clearview, acme):
        assert http.get(f"/cases/{cid}", headers=h).status_code == 200
        assert http.get(f"/cases/{cid}/calendar.ics", headers=h).status_code == 200
    eventually(lambda: {clearview, acme} <= set(listed(http, VIEWER)), "viewer lists all")
    assert http.get("/procedures", headers=h).status_code == 200
    assert http.get("/deadline", params={"start": "2022-07-14", "period": "1 month"},
                    headers=h).status_code == 200
    r = http.post("/cases", json=intake(new_id()), headers=h)
    assert r.status_code == 403 and "regulator" in r.json()["detail"]
    for event in ({"type": "compliance_evidence_submitted", "date": TODAY.isoformat()},
                  {"type": "case_closed", "date": TODAY.isoformat()}):
        r = http.post(f"/cases/{clearview}/events", json=event, headers=h)
        assert r.status_code == 403, r.text


def test_controller_reads_only_its_own_cases(http: httpx.Client,
                                             two_cases: tuple[str, str]) -> None:
    clearview, acme = two_cases
    h = auth(CLEARVIEW_TOKEN)
    assert http.get(f"/cases/{clearview}", headers=h).json()["case_id"] == clearview
    # another controller's case is answered as a case that does not exist (no id oracle)
    r = http.get(f"/cases/{acme}", headers=h)
    none = http.get("/cases/NO-SUCH-CASE", headers=h)
    assert (r.status_code, none.status_code) == (404, 404)
    assert r.json()["detail"] == f"no case {acme!r}"
    assert none.json()["detail"] == "no case 'NO-SUCH-CASE'"
    assert http.get(f"/cases/{acme}/calendar.ics", headers=h).status_code == 404
    assert http.get(f"/cases/{clearview}/calendar.ics", headers=h).status_code == 200
    eventually(lambda: clearview in listed(http, CLEARVIEW_TOKEN), "own case listed")
    mine = listed(http, CLEARVIEW_TOKEN)
    assert acme not in mine
    assert listed(http, ACME_TOKEN, procedure="fr-cnil").count(acme) == 1
    assert clearview not in listed(http, ACME_TOKEN)
    assert http.post("/cases", json=intake(new_id()), headers=h).status_code == 403


def test_controller_sends_only_the_controllers_events_to_its_own_cases(
        http: httpx.Client, two_cases: tuple[str, str]) -> None:
    clearview, acme = two_cases
    r = send(http, clearview, CLEARVIEW_TOKEN, type="compliance_evidence_submitted",
             date=TODAY.isoformat(), ref="letter of 1 March")
    assert r.status_code == 200, r.text
    assert "compliance_evidence_submitted" in [
        t["name"] for t in r.json()["timeline"] if t["kind"] == "event"]
    for kind in ("compliance_accepted", "case_closed", "formal_notice_issued"):
        r = send(http, clearview, CLEARVIEW_TOKEN, type=kind, date=TODAY.isoformat())
        assert r.status_code == 403, r.text
        assert all(e in r.json()["detail"] for e in CONTROLLER_EVENTS)
    r = send(http, acme, CLEARVIEW_TOKEN, type="compliance_evidence_submitted",
             date=TODAY.isoformat())
    assert (r.status_code, r.json()["detail"]) == (404, f"no case {acme!r}")
    r = send(http, "NO-SUCH-CASE", CLEARVIEW_TOKEN, type="appeal_lodged",
             date=TODAY.isoformat())
    assert r.status_code == 404
    # A controller's event that does not fit the stage is refused like anyone's.
    r = send(http, clearview, CLEARVIEW_TOKEN, type="appeal_lodged", date=TODAY.isoformat())
    assert r.status_code == 409 and r.json()["stage"] == "formal_notice"


def test_regulator_reads_and_writes_any_case(http: httpx.Client,
                                            two_cases: tuple[str, str]) -> None:
    _, acme = two_cases
    r = send(http, acme, type="investigation_opened", date=TODAY.isoformat(), kind="documents")
    assert r.status_code == 200 and r.json()["stage"] == "investigation"


# --- listing -------------------------------------------------------------------------------

def test_list_by_stage_procedure_and_due_before(http: httpx.Client) -> None:
    # Both complaints on a recent day whose same-numbered day 3 months on is a working day
    # in France and in England: both complainants' progress is due that day, no roll.
    day = recent_day(lambda d: working_day(months_later(d, 3), "FR", "GB-ENG"))
    fr_due = uk_due = months_later(day, 3)
    fr_case, uk_case = new_id("FR"), new_id("UK")
    assert open_case(http, fr_case, on=day)["deadlines"][0]["due"] == fr_due.isoformat()
    assert open_case(http, uk_case, procedure="uk-ico", controller="Acme Ltd", country="GB",
                     on=day)["deadlines"][0]["due"] == uk_due.isoformat()
    eventually(lambda: {fr_case, uk_case} <= set(listed(http, stage="complaint")),
               "both listed at the complaint stage")
    assert fr_case in listed(http, procedure="fr-cnil")
    assert uk_case not in listed(http, procedure="fr-cnil")
    assert uk_case in listed(http, procedure="uk-ico", stage="complaint")
    assert fr_case not in listed(http, stage="investigation")
    # Due before a day: deadlines whose last day is earlier; the day itself is excluded.
    assert fr_case not in listed(http, due_before=fr_due.isoformat())
    assert fr_case in listed(http, due_before=(fr_due + timedelta(days=1)).isoformat())
    # Each procedure's day ends in its own zone: London's deadline is caught too.
    assert uk_case not in listed(http, due_before=uk_due.isoformat())
    assert uk_case in listed(http, due_before=(uk_due + timedelta(days=1)).isoformat())
    # An aware instant: deadlines expiring before it (London's at the end of its last day,
    # 24:00 there: DPA 2018 s. 166 counted under s. 205(2), not a tribunal's 5 pm).
    expiry = datetime.combine(uk_due + timedelta(days=1), clock(0),
                              tzinfo=ZoneInfo("Europe/London"))
    assert uk_case not in listed(http, due_before=expiry.isoformat(), procedure="uk-ico")
    assert uk_case in listed(http, procedure="uk-ico",
                             due_before=(expiry + timedelta(seconds=1)).isoformat())
    rows = http.get("/cases", params={"procedure": "uk-ico"}, headers=auth(REGULATOR)).json()
    row = next(c for c in rows["cases"] if c["case_id"] == uk_case)
    assert row["stage"] == "complaint" and row["controller_country"] == "GB"
    assert row["status"] == "open" and row["next_deadline"] is not None


def test_a_case_at_the_sanction_stage_is_listed_once_at_its_current_stage(
        http: httpx.Client) -> None:
    cid = new_id("SAN")
    open_case(http, cid)
    assert send(http, cid, type="rapporteur_designated",
                date=TODAY.isoformat()).status_code == 200
    r = send(http, cid, type="report_notified", date=TODAY.isoformat())
    for _ in range(150):
        if r.status_code == 200:
            break
        time.sleep(0.1)
        r = send(http, cid, type="report_notified", date=TODAY.isoformat())
    assert r.status_code == 200, r.text
    eventually(lambda: cid in listed(http, stage="report"), "listed at the report stage")
    assert cid not in listed(http, stage="referred")
    assert listed(http, procedure="fr-cnil").count(cid) == 1


@pytest.mark.parametrize(("params", "field"), [
    ({"stage": "nowhere"}, "query.stage"),
    ({"procedure": "xx-none"}, "procedure"),
    ({"due_before": "soon"}, "query.due_before"),
    ({"due_before": "2026-12-01T10:00:00"}, "query.due_before"),
    ({"due_before": "0001-01-01"}, "due_before"),
    ({"limit": "0"}, "query.limit"),
])
def test_list_422_names_the_parameter(http: httpx.Client, params: dict[str, str],
                                      field: str) -> None:
    r = http.get("/cases", params=params, headers=auth(REGULATOR))
    assert field in fields(r)


# --- calendar ------------------------------------------------------------------------------

def ics(http: httpx.Client, case_id: str) -> Calendar:
    r = http.get(f"/cases/{case_id}/calendar.ics", headers=auth(REGULATOR))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(r.content)


def vevents(cal: Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_calendar_moves_events_by_uid_and_sequence(http: httpx.Client) -> None:
    # A recent notice whose same-numbered days 2 and 3 months on are working days: due 2
    # months on, then extended by 1 month from that due date to 3 months on, no roll.
    day = recent_day(lambda d: working_day(months_later(d, 2), "FR")
                     and working_day(months_later(d, 3), "FR"))
    due, later = months_later(day, 2), months_later(day, 3)
    cid = new_id("ICS")
    open_case(http, cid, on=day)
    assert send(http, cid, type="formal_notice_issued", date=day.isoformat(),
                period="2 months").status_code == 200
    first = vevents(ics(http, cid))
    assert len(first) == 2
    uid = f"formal_notice_compliance-1.{cid}@enforcement-engine"
    ev = first[uid]
    assert ev.decoded("DTSTART") == due
    assert ev.decoded("DTEND") == due + timedelta(days=1)
    assert int(ev["SEQUENCE"]) == 0 and str(ev["STATUS"]) == "CONFIRMED"
    # fr-cnil reminds 14 and 3 days before the last day, at 09:00.
    alarms = [a for a in ev.walk("VALARM")]
    assert {a.decoded("TRIGGER") for a in alarms} == {
        timedelta(days=-14, hours=9), timedelta(days=-3, hours=9)} and len(alarms) == 2
    desc = str(ev["DESCRIPTION"])
    assert f"2 months after {day} is {due}, the day with the same number" in desc
    assert f"It expires at 24:00 on {due}, Europe/Paris time ({end_of_day(due)})." in desc
    assert "Legal basis" in desc and "LIL art. 20-22" in desc
    assert vevents(ics(http, cid)).keys() == first.keys()  # stable UIDs

    r = send(http, cid, type="extension_granted", date=day.isoformat(),
             deadline="formal_notice_compliance", period="1 month")
    assert r.status_code == 200, r.text
    moved = vevents(ics(http, cid))
    assert moved.keys() == first.keys()  # the same event, moved: no second one
    assert moved[uid].decoded("DTSTART") == later
    assert int(moved[uid]["SEQUENCE"]) == 1
    assert f"Previously due: {due}" in str(moved[uid]["DESCRIPTION"])

    assert send(http, cid, type="case_closed", date=day.isoformat(),
                reason="withdrawn").status_code == 200
    closed = vevents(ics(http, cid))
    assert str(closed[uid]["STATUS"]) == "CANCELLED"
    assert int(closed[uid]["SEQUENCE"]) == 2
    assert not list(closed[uid].walk("VALARM"))


def test_calendar_raises_sequence_when_a_suspension_moves_a_deadline(
        http: httpx.Client) -> None:
    # A recent notice due on the same-numbered day 2 months on (a working day), suspended
    # from its day for k days (8 to 20), k chosen so that the last day moved by k days is a
    # Saturday before a working Monday: it rolls to that Monday. The day is at least 21 days
    # back, so the resumption (at most 20 days after it) is not dated in the future, which
    # the engine refuses.
    day = recent_day(lambda d: working_day(months_later(d, 2), "FR"), within=25,
                     today=date.today() - timedelta(days=21))
    due = months_later(day, 2)
    k = next(k for k in range(8, 21) if (due + timedelta(days=k)).weekday() == 5
             and working_day(due + timedelta(days=k + 2), "FR"))
    saturday, sunday, monday = (due + timedelta(days=k + n) for n in range(3))
    cid = new_id("SUSP")
    open_case(http, cid, on=day)
    assert send(http, cid, type="formal_notice_issued", date=day.isoformat(),
                period="2 months").status_code == 200
    assert send(http, cid, type="case_suspended", date=day.isoformat(),
                reason="court referral").status_code == 200
    r = send(http, cid, type="case_resumed", date=(day + timedelta(days=k)).isoformat())
    assert r.status_code == 200, r.text
    ev = vevents(ics(http, cid))[f"formal_notice_compliance-1.{cid}@enforcement-engine"]
    assert ev.decoded("DTSTART") == monday
    assert int(ev["SEQUENCE"]) == 1
    desc = " ".join(str(ev["DESCRIPTION"]).split())
    assert f"The case was suspended for {k} days" in desc
    assert (f"{saturday} is a Saturday; {sunday} is a Sunday: the period ends on the next "
            f"working day, Monday {monday} (CPC art. 642).") in desc


# --- procedures and the deadline calculator ------------------------------------------------

def test_procedures_lists_every_parameter_set(http: httpx.Client) -> None:
    r = http.get("/procedures", headers=auth(VIEWER))
    assert r.status_code == 200
    assert {p["name"] for p in r.json()} == set(all_procedures())
    cnil = next(p for p in r.json() if p["name"] == "fr-cnil")
    assert cnil["periods"]["appeal"] == "2 months"


def test_deadline_is_the_cores_with_its_explanation(http: httpx.Client) -> None:
    r = http.get("/deadline", params={"start": "2022-07-14", "period": "1 month"},
                 headers=auth(VIEWER))
    assert r.status_code == 200, r.text
    # Thu 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is Assumption Day -> Tue 16 Aug.
    assert r.json()["due"] == "2022-08-16"
    assert r.json()["explanation"] == [
        "Period of 1 month from 2022-07-14 under the French Code of civil procedure, FR "
        "calendar; the day of the event is not counted (CPC art. 641).",
        "1 month after 2022-07-14 is 2022-08-14, the day with the same number (CPC art. 641).",
        "2022-08-14 is a Sunday; 2022-08-15 is a public holiday (Assumption Day): the period "
        "ends on the next working day, Tuesday 2022-08-16 (CPC art. 642).",
        "It expires at 24:00 on 2022-08-16, Europe/Paris time (2022-08-17T00:00:00+02:00)."]
    # uk-ico, England: 14 Jul 2022 (a working day there) + 28 days = Thu 11 Aug 2022, no roll.
    r = http.get("/deadline", params={"start": "2022-07-14", "period": "28 days",
                                      "procedure": "uk-ico"}, headers=auth(VIEWER))
    assert r.json()["due"] == "2022-08-11"


@pytest.mark.parametrize(("params", "field"), [
    ({"period": "1 month"}, "query.start"),
    ({"start": "2022-07-14"}, "query.period"),
    ({"start": "2022-07-14", "period": "a fortnight"}, "query.period"),
    ({"start": "2022-07-14", "period": "1 month", "procedure": "xx"}, "query.procedure"),
    ({"start": "2022-07-14T10:00:00", "period": "1 month"}, "query.start"),
    ({"start": "9999-12-31", "period": "10 years"}, "query.start"),
    ({"start": "yesterday", "period": "1 month"}, "query.start"),
])
def test_deadline_422_names_the_parameter(http: httpx.Client, params: dict[str, str],
                                          field: str) -> None:
    r = http.get("/deadline", params=params, headers=auth(VIEWER))
    assert field in fields(r)


# --- schemathesis: the whole spec, no 5xx ----------------------------------------------------

OPERATIONS = [("POST", "/cases"), ("POST", "/cases/{case_id}/events"),
              ("GET", "/cases/{case_id}"), ("GET", "/cases"),
              ("GET", "/cases/{case_id}/calendar.ics"), ("GET", "/procedures"),
              ("GET", "/deadline")]
load_all_checks()
CHECKS = ALL_CHECKS.get_all()  # schemathesis's --checks all


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")


@pytest.fixture(scope="module")
def fuzz_case(http: httpx.Client) -> str:
    """A real case for the generated requests to hit, at the formal notice stage."""
    cid = new_id("FUZZ")
    open_case(http, cid)
    assert send(http, cid, type="formal_notice_issued", date=TODAY.isoformat(),
                period="2 months").status_code == 200
    return cid


@pytest.mark.parametrize(("method", "path", "mode"), [
    (method, path, mode) for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if (method, path, mode) != ("GET", "/procedures", GenerationMode.NEGATIVE)])  # no input
def test_openapi_spec_never_answers_5xx(api_schema: Any, fuzz_case: str, method: str,
                                        path: str, mode: GenerationMode) -> None:
    """Generated requests (valid ones, and ones the spec says are invalid) for every
    operation, with the regulator's token; those with a case id half on a real case. Every
    schemathesis check runs (--checks all): a valid request is never refused as invalid,
    an invalid one never accepted, no answer strays from the schema, none is a 5xx."""
    operation = api_schema[path][method]
    # the token is part of the request, not generated: a negative case then never counts
    # the header it drops as its violation while the test sends it anyway
    token = auth(REGULATOR)
    strategies = [operation.as_strategy(generation_mode=mode, headers=token)]
    if "{case_id}" in path and mode is GenerationMode.POSITIVE:
        strategies.append(operation.as_strategy(generation_mode=mode, headers=token,
                                                path_parameters={"case_id": fuzz_case}))
    statuses: list[int] = []

    @given(case=st.one_of(*strategies))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def fuzz(case: Any) -> None:
        response = case.call(headers=auth(REGULATOR), timeout=30)
        statuses.append(response.status_code)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: " \
                                           f"{response.status_code} {response.text[:500]}"
        case.validate_response(response, checks=CHECKS)

    fuzz()
    assert statuses and all(code < 500 for code in statuses)
    counts = ", ".join(f"{code}: {n}" for code, n in sorted(Counter(statuses).items()))
    print(f"fuzz {method} {path} {mode.value}: {len(statuses)} requests ({counts})")


def test_an_appeal_lodged_in_time_and_sent_years_later_is_exercised(http: httpx.Client) -> None:
    # The Clearview decision, notified Mon 17 Oct 2022 to a controller in the US: appeal
    # 2 + 2 months as a délai franc, Fri 17 Feb 2023 -> Sat 18 -> Mon 20 Feb 2023. On
    # today's clock it ran out long ago: lapsed. An appeal lodged on Tue 20 Dec 2022 and
    # keyed in now was in time.
    cid = new_id("LATE")
    events = [{"type": "complaint_received", "date": "2020-05-25", "subject": "s",
               "complainant_ref": "C-1"},
              {"type": "rapporteur_designated", "date": "2022-06-02"},
              {"type": "report_notified", "date": "2022-07-14"},
              {"type": "hearing_scheduled", "date": "2022-09-01", "hearing_date": "2022-10-13"},
              {"type": "hearing_held", "date": "2022-10-13"},
              {"type": "sanction_decided", "date": "2022-10-17", "fine_eur": 20_000_000},
              {"type": "decision_notified", "date": "2022-10-17"}]
    r = http.post("/cases", json={**intake(cid), "events": events}, headers=auth(REGULATOR))
    assert r.status_code == 201, r.text

    def appeal() -> dict[str, Any] | None:
        got = http.get(f"/cases/{cid}", headers=auth(REGULATOR))
        if got.status_code != 200:
            return None
        return next((d for d in got.json()["deadlines"] if d["name"] == "appeal"), None)

    eventually(lambda: (appeal() or {}).get("status") == "lapsed", "the appeal lapsed")
    assert appeal()["due"] == "2023-02-20"  # type: ignore[index]
    r = send(http, cid, type="appeal_lodged", date="2022-12-20", court="Conseil d'État")
    assert r.status_code == 200, r.text
    [rec] = [d for d in r.json()["deadlines"] if d["name"] == "appeal"]
    assert rec["status"] == "exercised"
    [change] = rec["history"]
    assert (change["status"], change["to"], change["recorded_by"]) == (
        "lapsed", "exercised", "case handler")
    lodged = [t for t in r.json()["timeline"]
              if t["kind"] == "event" and t["name"] == "appeal_lodged"]
    assert [(t["date"], t["recorded_by"]) for t in lodged] == [("2022-12-20", "case handler")]
    # A year the case cannot have: refused, nothing changed.
    r = send(http, cid, type="appeal_lodged", date="1990-11-30")
    assert r.status_code == 409
    assert "before the case's first event (complaint_received of 2020-05-25)" in (
        r.json()["detail"])


def test_a_timely_compliance_sent_after_the_engines_referral_is_flagged_then_undone(
        http: httpx.Client) -> None:
    # The Clearview notice: received Fri 26 Nov 2021 for 2 months, due Wed 26 Jan 2022; its
    # 5 working days of grace (Thu 27 Jan to Wed 2 Feb) are long over on today's clock, so
    # the engine referred the case on Thu 3 Feb 2022. A compliance accepted on 20 Jan 2022
    # and keyed in now was in time: flagged, and the referral stands until undone.
    cid = new_id("UNDO")
    events = [{"type": "complaint_received", "date": "2020-05-25", "subject": "s",
               "complainant_ref": "C-1"},
              {"type": "formal_notice_issued", "date": "2021-11-26", "period": "2 months"}]
    r = http.post("/cases", json={**intake(cid), "events": events}, headers=auth(REGULATOR))
    assert r.status_code == 201, r.text
    eventually(lambda: wait_status(http, cid).get("stage") == "referred", "the referral")
    [ref] = [t for t in wait_status(http, cid)["timeline"]
             if t["kind"] == "outcome" and t["name"] == "referred_to_sanction"]
    assert (ref["date"], ref["recorded_by"]) == ("2022-02-03", "engine")
    r = send(http, cid, type="compliance_accepted", date="2022-01-20")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "referred"
    [notice] = [d for d in r.json()["deadlines"] if d["name"] == "formal_notice_compliance"]
    assert (notice["status"], notice["history"][0]["to"]) == ("met", "met")
    # Only the regulator undoes a referral, and with a reason.
    r = send(http, cid, CLEARVIEW_TOKEN, type="referral_undone", date=TODAY.isoformat(),
             reason="compliance accepted in time")
    assert r.status_code == 403
    r = send(http, cid, type="referral_undone", date=TODAY.isoformat())
    assert r.status_code == 422 and "reason" in r.text
    r = send(http, cid, type="referral_undone", date=TODAY.isoformat(),
             reason="compliance accepted in time")
    assert r.status_code == 200, r.text
    eventually(lambda: wait_status(http, cid).get("status") == "closed", "the closure")
    final = wait_status(http, cid)
    assert (final["outcome"], final["workflow_id"]) == ("complied", cid)


def test_a_regulator_corrects_a_mistyped_period_and_a_controller_may_not(
        http: httpx.Client) -> None:
    # A notice whose 1 and 2 months both end on working days (no roll): due on those days.
    day = recent_day(lambda d: working_day(months_later(d, 1), "FR")
                     and working_day(months_later(d, 2), "FR"))
    cid = new_id("FIX")
    open_case(http, cid, on=day)
    r = send(http, cid, type="formal_notice_issued", date=day.isoformat(), period="1 month")
    assert r.status_code == 200, r.text
    [seq] = [t["seq"] for t in r.json()["timeline"]
             if t["kind"] == "event" and t["name"] == "formal_notice_issued"]
    fix = {"type": "event_corrected", "date": TODAY.isoformat(), "seq": seq,
           "reason": "the notice says 2 months",
           "corrected": {"type": "formal_notice_issued", "date": day.isoformat(),
                         "period": "2 months"}}
    r = send(http, cid, CLEARVIEW_TOKEN, **fix)
    assert r.status_code == 403
    r = send(http, cid, **fix)
    assert r.status_code == 200, r.text
    [notice] = [d for d in r.json()["deadlines"] if d["name"] == "formal_notice_compliance"]
    assert (notice["due"], notice["period"]) == (months_later(day, 2).isoformat(), "2 months")
    assert notice["history"][0]["reason"] == "event_corrected 3: the notice says 2 months"
    # a target the case does not have: one line, nothing changed
    r = send(http, cid, type="event_withdrawn", date=TODAY.isoformat(), seq=99,
             reason="typo")
    assert r.status_code == 409 and "event 99 is not an event of this case" in r.text


def test_amounts_the_register_cannot_store_are_refused_and_change_nothing(
        http: httpx.Client) -> None:
    # A fine of 10^25 was answered 200 and then killed the case in the register (above
    # 2^63); a turnover of 10^25 made such a fine fit under the cap.
    body = intake(new_id())
    body["controller"]["annual_turnover_eur"] = 10**25
    r = http.post("/cases", json=body, headers=auth(REGULATOR))
    assert r.status_code == 422, r.text
    assert "annual_turnover_eur" in r.text and "10000000000000" in r.text
    cid = new_id()
    open_case(http, cid)
    before = wait_status(http, cid)
    r = send(http, cid, type="sanction_decided", date=TODAY.isoformat(), fine_eur=10**25)
    assert r.status_code == 422 and "fine_eur" in r.text
    assert wait_status(http, cid)["timeline"] == before["timeline"]


def test_a_controller_cannot_take_an_id_the_regulator_will_use(http: httpx.Client) -> None:
    # The controller's evidence took the id the regulator meant for its acceptance: the
    # acceptance was answered 200 and silently dropped, and the case later referred.
    cid = new_id("SQ")
    open_case(http, cid)
    r = send(http, cid, type="formal_notice_issued", date=TODAY.isoformat(),
             period="2 months")
    assert r.status_code == 200, r.text
    evidence = {"type": "compliance_evidence_submitted", "date": TODAY.isoformat(),
                "ref": "letter", "id": f"reg-accept-{cid}"}
    assert send(http, cid, CLEARVIEW_TOKEN, **evidence).status_code == 200
    assert send(http, cid, CLEARVIEW_TOKEN, **evidence).status_code == 200  # a repeat
    # the controller's own id, reused for another of its events: refused, naming the use
    r = send(http, cid, CLEARVIEW_TOKEN, type="compliance_evidence_submitted",
             date=TODAY.isoformat(), ref="another letter", id=f"reg-accept-{cid}")
    assert r.status_code == 409, r.text
    assert (f"the id 'controller:reg-accept-{cid}' was already used by event 3 "
            f"(compliance_evidence_submitted of {TODAY.isoformat()})") in r.json()["detail"]
    # the regulator's id is its own: the acceptance is applied and closes the case
    r = send(http, cid, type="compliance_accepted", date=TODAY.isoformat(),
             id=f"reg-accept-{cid}")
    assert r.status_code == 200, r.text
    status = wait_status(http, cid)
    assert (status["status"], status["outcome"]) == ("closed", "complied")
    events = [e["name"] for e in status["timeline"] if e["kind"] == "event"]
    assert events == ["complaint_received", "formal_notice_issued",
                      "compliance_evidence_submitted", "compliance_accepted"]


def test_a_body_over_one_mebibyte_is_413_and_an_oversized_measure_422(
        http: httpx.Client) -> None:
    # A 1.5 MB formal notice once made Temporal terminate the case (GrpcMessageTooLarge).
    cid = new_id("BIG")
    open_case(http, cid)
    r = send(http, cid, type="formal_notice_issued", date=TODAY.isoformat(),
             period="2 months", measures=["x" * 1_500_000])
    assert r.status_code == 413, r.text
    assert r.json()["detail"].endswith("bytes; at most 1,048,576 are accepted")
    r = send(http, cid, type="formal_notice_issued", date=TODAY.isoformat(),
             period="2 months", measures=["x" * 60_000])
    assert r.status_code == 422 and "measures" in r.text
    status = wait_status(http, cid)
    assert (status["status"], status["stage"]) == ("open", "complaint")


def test_a_case_opens_with_its_100_past_events_and_4000_are_refused_whole(
        http: httpx.Client) -> None:
    # 400 opening events once made every workflow task fail ("Potential deadlock
    # detected"): the case could never be queried again.
    start = TODAY - timedelta(days=400)
    history: list[dict[str, Any]] = [
        {"type": "complaint_received", "date": start.isoformat(), "subject": "s",
         "complainant_ref": "C-1"},
        {"type": "investigation_opened", "date": start.isoformat(), "kind": "online"}]
    day = start
    while len(history) < 4000:
        day += timedelta(days=1)
        history += [{"type": "information_requested", "date": day.isoformat(),
                     "period": "1 month"},
                    {"type": "information_provided", "date": day.isoformat()}]
    cid = new_id("MANY")
    r = http.post("/cases", json={**intake(cid), "events": history[:4000]},
                  headers=auth(REGULATOR))
    assert r.status_code == 422, r.text
    assert "a case opens with at most 100 events (4000 given); send later ones one by one" in r.text
    assert http.get(f"/cases/{cid}", headers=auth(REGULATOR)).status_code == 404
    r = http.post("/cases", json={**intake(cid), "events": history[:100]},
                  headers=auth(REGULATOR))
    assert r.status_code == 201, r.text
    status = wait_status(http, cid)
    assert status["stage"] == "investigation"
    assert len([e for e in status["timeline"] if e["kind"] == "event"]) == 100
    # the investigation meets the complainant-progress deadline; 49 requests, each
    # answered the day it was made, meet theirs
    assert sorted((d["name"], d["status"]) for d in status["deadlines"]) == [
        ("complainant_progress", "met")] + [("information_response", "met")] * 49


def test_a_case_whose_workflow_was_terminated_says_failed_with_the_reason(
        stack: Stack, http: httpx.Client) -> None:
    cid = new_id("FAIL")
    open_case(http, cid)
    assert stack.client is not None
    stack.call(stack.client.get_workflow_handle(cid).terminate(reason="disk full on the worker"))
    status = wait_status(http, cid)
    assert (status["status"], status["next_deadline"]) == ("failed", None)
    assert status["failure"].startswith(
        f"the case's workflow {cid} was terminated: disk full on the worker; its deadlines "
        "no longer run")
    eventually(lambda: any(c["case_id"] == cid and c["status"] == "failed"
                           and c["next_deadline"] is None
                           for c in http.get("/cases", headers=auth(REGULATOR)).json()["cases"]),
               "the listing shows the case failed")
    r = send(http, cid, type="investigation_opened", date=TODAY.isoformat(), kind="online")
    assert r.status_code == 409, r.text
    assert "was terminated: disk full on the worker" in r.json()["detail"]


def test_forecast_is_the_regulators_and_counts_the_open_cases(http: httpx.Client) -> None:
    cid = new_id("FC")
    open_case(http, cid)  # a complaint today: the complainant's 3 months run
    body = {"assumptions": "procedures:\n  fr-cnil: []\n", "weeks": 20, "runs": 2}
    assert http.post("/forecast", json=body, headers=auth(VIEWER)).status_code == 403

    def read() -> dict[str, Any]:
        r = http.post("/forecast", json=body, headers=auth(REGULATOR))
        assert r.status_code == 200, r.text
        return dict(r.json())

    eventually(lambda: read()["cases"] >= 1, "the new case is forecast")
    doc = read()
    assert doc["left_out"] == [] and doc["runs"] == 2
    # 3 months from today, in week (due - today) // 7 of the 20: at least this case's
    # deadline runs out that week in every run
    due = date.fromisoformat(wait_status(http, cid)["deadlines"][0]["due"])
    week = (due - TODAY).days // 7
    [row] = [r for r in doc["rows"] if (r["kind"], r["week"], r["procedure"])
             == ("deadlines", week, "*")]
    assert row["p10"] >= 1
    bad = http.post("/forecast", json={"assumptions": "procedures: 3"},
                    headers=auth(REGULATOR))
    assert bad.status_code == 422 and "procedures" in bad.json()["detail"]
