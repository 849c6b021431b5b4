"""The console's session and forms over HTTP, without a browser or Temporal: what a hostile
or careless request gets (a page that says what was wrong, nothing changed), and the cookie's
protections. The pages that read cases are tested with the engine in test_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from enforcement.interfaces.api import create_app
from enforcement.interfaces.console.forms import read_event
from enforcement.interfaces.console.pages import _row
from enforcement.interfaces.console.strings import EN
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import CaseSummary
from tests.fixtures_stack import CLEARVIEW_TOKEN, REGULATOR, TOKENS, VIEWER

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "enforcement" / "interfaces" / "console" \
    / "templates"


class NoTemporal:
    """Stands where the Temporal client would be: any use of it fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the console reached Temporal ({name}) for a refused request")


def make_client(tokens: dict[str, object] = TOKENS, https: bool = False) -> TestClient:
    settings = Settings(api_tokens=tokens, controller_key=SecretStr("console-test-key"))
    app = create_app(settings, client=NoTemporal())  # type: ignore[arg-type]
    return TestClient(app, base_url="https://testserver" if https else "http://testserver",
                      follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in; the session's CSRF token (read from the next page's sign-out form)."""
    page = client.get("/console/sign-in")
    r = client.post("/console/sign-in", data={"csrf": csrf_of(page.text), "token": token})
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/console/procedures").text)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as c:
        yield c


def test_the_session_cookie_is_httponly_strict_and_secure_over_tls() -> None:
    with make_client(https=True) as c:
        page = c.get("/console/sign-in")
        r = c.post("/console/sign-in", data={"csrf": csrf_of(page.text), "token": REGULATOR})
        cookie = next(h for h in r.headers.get_list("set-cookie")
                      if h.startswith("ee_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
        assert REGULATOR not in cookie
    with make_client() as c:  # plain HTTP (a loopback `make run`): not marked Secure
        page = c.get("/console/sign-in")
        r = c.post("/console/sign-in", data={"csrf": csrf_of(page.text), "token": REGULATOR})
        cookie = next(h for h in r.headers.get_list("set-cookie")
                      if h.startswith("ee_session="))
        assert "Secure" not in cookie


def test_sign_in_without_its_csrf_token_is_refused(client: TestClient) -> None:
    for cookie_first in (False, True):  # with no form cookie, and with another's token
        if cookie_first:
            client.get("/console/sign-in")
        r = client.post("/console/sign-in", data={"csrf": "forged", "token": REGULATOR})
        assert r.status_code == 403
        assert "its security token does not match" in r.text
        assert "ee_session" not in r.headers.get("set-cookie", "")


def test_a_tampered_or_revoked_session_signs_out() -> None:
    with make_client() as c:
        sign_in(c, VIEWER)
        assert c.get("/console/procedures").status_code == 200
        value = c.cookies["ee_session"]
        c.cookies.set("ee_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        r = c.get("/console/procedures")
        assert r.status_code == 303 and "/console/sign-in" in r.headers["location"]
    # the same signed cookie, once the token is gone from the engine's tokens
    with make_client() as c:
        sign_in(c, VIEWER)
        cookie = c.cookies["ee_session"]
    without = {k: v for k, v in TOKENS.items() if k != VIEWER}
    with make_client(without) as c:
        c.cookies.set("ee_session", cookie)
        r = c.get("/console/procedures")
        assert r.status_code == 303 and "/console/sign-in" in r.headers["location"]


def test_after_sign_in_only_console_paths_are_followed(client: TestClient) -> None:
    page = client.get("/console/sign-in", params={"next": "https://elsewhere.example/x"})
    assert "elsewhere" not in page.text
    r = client.post("/console/sign-in", data={"csrf": csrf_of(page.text), "token": VIEWER,
                                              "next": "//elsewhere.example/"})
    assert r.headers["location"] == "/console/cases"


def test_forms_without_the_sessions_csrf_token_change_nothing(client: TestClient) -> None:
    sign_in(client, REGULATOR)
    for path, data in (("/console/open", {"case_id": "X-1", "controller_name": "A"}),
                       ("/console/cases/X-1/events", {"type": "case_closed",
                                                      "date": "2024-01-02"}),
                       ("/console/simulate", {"shipped": "clearview"})):
        r = client.post(path, data={**data, "csrf": "not-this-sessions"})
        assert r.status_code == 403, path
        assert "Nothing was changed" in r.text  # and NoTemporal saw no call


def test_roles_are_enforced_on_the_server(client: TestClient) -> None:
    token = sign_in(client, CLEARVIEW_TOKEN)
    r = client.post("/console/open", data={"csrf": token, "case_id": "X-1"})
    assert r.status_code == 403 and "needs: regulator" in r.text
    r = client.get("/console/open")
    assert r.status_code == 403
    with make_client() as viewer:
        token = sign_in(viewer, VIEWER)
        r = viewer.post("/console/cases/X-1/events", data={"csrf": token,
                                                           "type": "case_closed",
                                                           "date": "2024-01-02"})
        assert r.status_code == 403 and "viewer" in r.text


def test_bad_filters_and_calculator_input_say_what_is_accepted(client: TestClient) -> None:
    sign_in(client, VIEWER)
    r = client.get("/console/cases", params={"stage": "limbo"})
    assert r.status_code == 422 and "unknown stage &#39;limbo&#39;; accepted:" in r.text
    r = client.get("/console/cases", params={"sort": "price"})
    assert r.status_code == 422 and "accepted: deadline, case, stage, opened" in r.text
    r = client.get("/console/deadline", params={"start": "2022-07-14", "period": "1 month",
                                                "procedure": "fr-cnil"})
    # Thu 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is a holiday: Tue 16 Aug
    assert r.status_code == 200 and "Due on 2022-08-16" in r.text
    r = client.get("/console/deadline", params={"start": "2022-02-30", "period": "1 month"})
    assert r.status_code == 422 and 'href="#f-start"' in r.text


def test_unknown_paths_answer_as_their_side_does(client: TestClient) -> None:
    r = client.get("/console/nowhere")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


def test_every_string_a_template_uses_is_in_the_table() -> None:
    used = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        used |= set(re.findall(r"\bS\.([a-z0-9_]+)", text))
        used |= set(re.findall(r"\bS\('([a-z0-9_]+)'", text))
    assert used and not used - set(EN), sorted(used - set(EN))


# --- the event form, read back into the event model ------------------------------------------

def test_event_form_reads_lists_numbers_and_names_the_wrong_field() -> None:
    event, errors = read_event("formal_notice_issued", {
        "date": "2021-11-26", "period": "2 months",
        "measures": "stop collecting\n\n  delete the data \n"})
    assert not errors and event is not None
    assert event.measures == ["stop collecting", "delete the data"]  # type: ignore[union-attr]
    _, errors = read_event("sanction_decided", {"date": "2022-10-17", "fine_eur": "20 M"})
    assert errors.by_field == {"fine_eur": "expected a whole number, got '20 M'"}
    _, errors = read_event("investigation_opened", {"date": "26/11/2021", "kind": "online"})
    assert list(errors.by_field) == ["date"]
    _, errors = read_event("investigation_opened", {"date": "2021-11-26"})
    assert list(errors.by_field) == ["kind"]


# --- the register's highlights ---------------------------------------------------------------

def test_days_left_and_highlights() -> None:
    now = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    paris = timedelta(hours=1)  # CET in December

    def row(due: date) -> tuple[str, str]:
        # a deadline whose last day is `due` expires at 24:00 Paris time that day
        expires = datetime(due.year, due.month, due.day, tzinfo=UTC) + timedelta(days=1) \
            - paris
        s = CaseSummary(case_id="C", procedure="fr-cnil", stage="formal_notice",
                        next_deadline=expires, workflow_id="C")
        r = _row(s, {}, now)
        assert r.due == due
        return r.flag, r.days_text

    assert row(date(2026, 12, 8)) == ("soon", "due today")
    assert row(date(2026, 12, 9)) == ("soon", "1 day")
    assert row(date(2026, 12, 15)) == ("soon", "7 days")
    assert row(date(2026, 12, 16)) == ("", "8 days")
    assert row(date(2026, 12, 7)) == ("overdue", "1 day overdue")
    assert row(date(2026, 12, 5)) == ("overdue", "3 days overdue")


# --- what a hostile or careless request gets ---------------------------------------------------

def test_a_deeply_nested_upload_is_refused_with_the_loaders_message(client: TestClient) -> None:
    token = sign_in(client, VIEWER)
    for text in ("[" * 500 + "]" * 500, "{a: " * 500 + "1" + "}" * 500, "[" * 40 + "]" * 40):
        r = client.post("/console/simulate", data={"csrf": token, "shipped": ""},
                        files={"file": ("deep.yaml", text.encode(), "text/yaml")})
        assert r.status_code == 422, r.text[:300]
        assert "deep.yaml:1: nested more than 32 levels deep" in r.text
    # the API's route reads the same loader
    api = client.post("/simulations", json={"scenario": "[" * 1000 + "]" * 1000},
                      headers={"Authorization": f"Bearer {VIEWER}"})
    assert api.status_code == 422 and "nested more than 32 levels deep" in api.text


def test_a_what_if_name_with_dollar_signs_is_drawn_as_written(client: TestClient) -> None:
    token = sign_in(client, VIEWER)
    text = (ROOT / "scenarios" / "clearview.yaml").read_text().replace(
        "one-month extension:", "cost $\\frac{a}{b$ and $\\undefinedmacro$:")
    r = client.post("/console/simulate", data={"csrf": token, "shipped": ""},
                    files={"file": ("c.yaml", text.encode(), "text/yaml")})
    assert r.status_code == 200, r.text[:300]
    assert "<svg" in r.text and "what if: cost $\\frac{a}{b$ and $\\undefinedmacro$" in r.text


def test_console_errors_are_pages_never_json(client: TestClient) -> None:
    token = sign_in(client, REGULATOR)
    for method, path in (("PUT", "/console/open"), ("DELETE", "/console/cases/X-1"),
                         ("POST", "/console/deadline")):
        r = client.request(method, path)
        assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")
        assert f"this page does not take a {method} request" in r.text
    r = client.post("/console/open", content=b"x" * 1_100_000,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "at most 1,048,576 are accepted here" in r.text
    r = client.post("/console/open", content=b"--x\r\n",
                    headers={"content-type": "multipart/form-data"})
    assert r.status_code == 422 and "the form could not be read" in r.text
    # the API keeps its JSON answers
    assert client.put("/cases").json() == {"detail": "Method Not Allowed"}
    # a sign-in that returns to a form's address lands on its page
    r = client.get("/console/cases/X-1/events")
    assert r.status_code == 303 and r.headers["location"] == "/console/cases/X-1"
    assert token


def test_console_pages_are_private_and_unframed(client: TestClient) -> None:
    sign_in(client, VIEWER)
    r = client.get("/console/procedures")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # Swagger UI's page has its own inline script: not under the console's policy
    assert "content-security-policy" not in client.get("/docs").headers


def test_a_signed_out_cookie_no_longer_works(client: TestClient) -> None:
    token = sign_in(client, VIEWER)
    kept = client.cookies["ee_session"]
    r = client.post("/console/sign-out", data={"csrf": token})
    assert r.status_code == 303
    client.cookies.set("ee_session", kept)
    r = client.get("/console/procedures")
    assert r.status_code == 303 and "/console/sign-in" in r.headers["location"]


def test_opening_form_names_every_wrong_field_at_once(client: TestClient) -> None:
    token = sign_in(client, REGULATOR)
    r = client.post("/console/open", data={
        "csrf": token, "case_id": "a/b", "procedure": "fr-cnil", "controller_name": "A",
        "controller_country": "France", "controller_email": "not-an-address",
        "turnover": "lots", "subject": "s", "complaint_date": "2022-01-03",
        "complainant_ref": "C-1"})
    assert r.status_code == 422
    for field, message in (("case_id", "letters, digits and . _ : - only"),
                           ("controller_country", "the two-letter country code"),
                           ("controller_email", "an email address, such as"),
                           ("turnover", "expected a whole number, got &#39;lots&#39;")):
        assert f'href="#f-{field}"' in r.text and message in r.text, field
    # a text field sent as a file is refused, never stored as the file's description
    r = client.post("/console/open", data={"csrf": token, "case_id": "F-1"},
                    files={"controller_name": ("n.txt", b"Acme", "text/plain")})
    assert r.status_code == 422 and "Controller&#39;s name: expected text, not a file" in r.text
    assert "UploadFile" not in r.text


def test_calculator_and_register_errors_stay_on_their_field(client: TestClient) -> None:
    sign_in(client, VIEWER)
    r = client.get("/console/deadline", params={"start": "2024-01-01",
                                                "period": "9" * 5000 + " days"})
    assert r.status_code == 422 and 'href="#f-period"' in r.text
    assert "at most 64 characters" in r.text and "int_max_str_digits" not in r.text
    r = client.get("/console/cases", params={"due_before": "9999-12-31"})
    assert r.status_code == 422 and 'href="#f-due_before"' in r.text
    assert 'class="filters"' in r.text  # the form stays, with the error on its field
    with make_client() as c:
        sign_in(c, CLEARVIEW_TOKEN)
        r = c.get("/console/cases", params={"controller": "Other Corp"})
        assert r.status_code == 422 and "shows only its own cases" in r.text


def test_deeply_nested_json_in_a_correction_is_a_field_error() -> None:
    _, errors = read_event("event_corrected", {"date": "2024-02-01", "reason": "r",
                                               "corrected": "[" * 100_000 + "]" * 100_000})
    assert errors.by_field == {"corrected": "line 1: nested more than 32 levels deep; an "
                                            "event is accepted up to that depth"}
