"""The console in a real browser: Debian's Chromium driven by Playwright, against the whole
engine (dev server, worker, register, API and console on a loopback port).

Each test does what a person would: signs in with a token, reads the register, opens a case,
records an event, runs a simulation; and asserts what that person sees. Every page is kept
as a screenshot under var/artifacts/console/ (ENFORCE_ARTIFACTS moves it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.dates import months_later, working_day
from tests.fixtures_stack import ACME_TOKEN, CLEARVIEW_TOKEN, REGULATOR, VIEWER, Stack

CHROMIUM = os.environ.get("ENFORCE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("ENFORCE_ARTIFACTS", Path(__file__).resolve().parents[2]
                                / "var" / "artifacts")) / "console"
TODAY = date.today()
ACME_CASES = 53  # more than a page (50): the register has two pages of Acme's cases
CLEARVIEW = "MED-2021-134"


def _soon() -> tuple[date, int]:
    """A complaint date whose 3-month progress deadline falls within the coming week on a
    French working day (nothing rolls: due = the same-numbered day 3 months later), and the
    days left: picked by hand rules, not by the engine."""
    for k in range(6, 0, -1):
        due = TODAY + timedelta(days=k)
        if due.day <= 28 and working_day(due):
            m = due.month - 1 - 3
            complaint = due.replace(year=due.year + m // 12, month=m % 12 + 1)
            assert months_later(complaint, 3) == due
            return complaint, k
    raise AssertionError("no working day numbered 1-28 in the coming week")  # pragma: no cover


SOON_COMPLAINT, SOON_DAYS = _soon()


def _intake(case_id: str, controller: str, country: str, events: list[dict[str, Any]],
            procedure: str = "fr-cnil") -> dict[str, Any]:
    return {"case_id": case_id, "procedure": procedure, "subject": "complaint",
            "controller": {"name": controller, "country": country}, "events": events}


def _complaint(on: date) -> dict[str, Any]:
    return {"type": "complaint_received", "date": on.isoformat(), "subject": "complaint",
            "complainant_ref": "C-1"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The engine with Clearview's case (complaint, investigation, a two-month formal notice
    of 2021-11-26, long expired: the case is referred) and Acme's cases: one due this week,
    the others three months after today's complaint."""
    with Stack(tmp_path_factory.mktemp("console")) as s:
        http = httpx.Client(base_url=s.base_url, timeout=30,
                            headers={"Authorization": f"Bearer {REGULATOR}"})
        r = http.post("/cases", json=_intake(CLEARVIEW, "Clearview AI Inc.", "US", [
            _complaint(date(2020, 5, 25)),
            {"type": "investigation_opened", "date": "2020-08-26", "kind": "online"},
            {"type": "formal_notice_issued", "date": "2021-11-26", "period": "2 months",
             "measures": ["stop collecting data of persons in France"]}]))
        assert r.status_code == 201, r.text
        r = http.post("/cases", json=_intake("ACME-SOON", "Acme SA", "FR",
                                               [_complaint(SOON_COMPLAINT)]))
        assert r.status_code == 201, r.text
        for i in range(ACME_CASES - 1):
            r = http.post("/cases", json=_intake(f"ACME-{i:03d}", "Acme SA", "FR",
                                                   [_complaint(TODAY)]))
            assert r.status_code == 201, r.text
        r = http.post("/cases", json=_intake("ICO-1", "Acme SA", "GB", [],
                                               procedure="uk-ico"))
        assert r.status_code == 201, r.text
        _wait_listed(http, ACME_CASES + 2)
        yield s


def _wait_listed(http: httpx.Client, n: int) -> None:
    import time
    for _ in range(150):
        if http.get("/cases", params={"limit": 1000}).json()["count"] >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"the listing never showed {n} cases")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install "
        "chromium); ENFORCE_CHROMIUM names another binary")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def signed_in(browser: Browser, stack: Stack, token: str) -> Page:
    context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280,
                                                                      "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Case register")).to_be_visible()
    return page


def register_ids(page: Page) -> list[str]:
    return page.locator("table.register tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.case)")


# --- sign-in ---------------------------------------------------------------------------------

def test_each_role_signs_in_and_sees_only_its_forms(browser: Browser, stack: Stack) -> None:
    for token, role, who in ((REGULATOR, "regulator", "case handler"),
                             (CLEARVIEW_TOKEN, "controller", "Clearview AI Inc."),
                             (VIEWER, "viewer", "viewer")):
        page = signed_in(browser, stack, token)
        expect(page.get_by_text(f"Signed in as {who} ({role})")).to_be_visible()
        nav = page.get_by_role("navigation", name="Sections")
        expect(nav.get_by_role("link", name="Open a case")).to_have_count(
            1 if role == "regulator" else 0)
        cookie = next(c for c in page.context.cookies() if c["name"] == "ee_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert REGULATOR not in cookie["value"] and token not in cookie["value"]
        shot(page, f"register-{role}")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You are signed out.")).to_be_visible()
        page.goto("/console/cases")
        expect(page).to_have_url(re.compile(r"/console/sign-in"))
        page.context.close()


def test_an_unknown_token_is_refused_with_a_message(browser: Browser, stack: Stack) -> None:
    page = browser.new_context(base_url=stack.base_url).new_page()
    page.goto("/console/sign-in")
    page.get_by_label("API token").fill("not-a-token-of-this-engine")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-summary")).to_contain_text("This token is not known")
    assert not [c for c in page.context.cookies() if c["name"] == "ee_session"]
    shot(page, "sign-in-refused")
    page.context.close()


# --- the register ----------------------------------------------------------------------------

def test_register_lists_filters_and_pages(browser: Browser, stack: Stack) -> None:
    page = signed_in(browser, stack, REGULATOR)
    # earliest deadline first: the case due this week leads (other tests may open more
    # cases, none due sooner)
    assert register_ids(page)[0] == "ACME-SOON"
    # Acme's cases, whatever the other tests do: its 53 under fr-cnil and one under uk-ico
    page.get_by_label("Controller").fill("Acme SA")
    page.get_by_role("button", name="Apply filters").click()
    everyone = ACME_CASES + 1
    expect(page.locator("#count")).to_have_text(f"Page 1 of 2 ({everyone} cases)")
    first = register_ids(page)
    assert len(first) == 50 and first[0] == "ACME-SOON"
    soon = page.locator("tr[data-case='ACME-SOON']")
    expect(soon).to_have_class(re.compile(r"\bsoon\b"))
    expect(soon.locator("td.days")).to_have_text(f"due this week {SOON_DAYS} days")
    expect(soon.locator("td").nth(3)).to_have_text(months_later(SOON_COMPLAINT, 3)
                                                   .isoformat())
    expect(soon.locator("td").nth(2)).to_have_text("Acme SA")
    page.get_by_role("link", name="Next page").click()
    second = register_ids(page)
    assert len(second) == everyone - 50 and not set(first) & set(second)
    expect(page.locator("#count")).to_have_text(f"Page 2 of 2 ({everyone} cases)")

    page.goto("/console/cases")
    page.get_by_label("Procedure").select_option("uk-ico")
    page.get_by_role("button", name="Apply filters").click()
    assert register_ids(page) == ["ICO-1"]

    page.goto("/console/cases")
    page.get_by_label("Stage").select_option("referred")
    page.get_by_role("button", name="Apply filters").click()
    assert register_ids(page) == [CLEARVIEW]

    page.goto("/console/cases")
    page.get_by_label("Controller").fill("Clearview AI Inc.")
    page.get_by_role("button", name="Apply filters").click()
    assert register_ids(page) == [CLEARVIEW]
    shot(page, "register-filtered")

    page.goto("/console/cases")
    page.get_by_label("Next deadline before").fill("2020-13-01")
    page.get_by_role("button", name="Apply filters").click()
    # the field's own label, the value and what is accepted
    expect(page.locator(".error-summary")).to_contain_text(
        "Next deadline before: '2020-13-01' is not a date; accepted: an ISO date")
    page.context.close()


# --- a case ----------------------------------------------------------------------------------

def test_clearview_page_shows_its_deadlines_and_explanations(browser: Browser,
                                                             stack: Stack) -> None:
    page = signed_in(browser, stack, REGULATOR)
    # no deadline runs on the referred case: it is listed last, on the second page
    page.get_by_role("link", name="Next page").click()
    page.get_by_role("link", name=CLEARVIEW).click()
    expect(page.get_by_role("heading", name=f"Case {CLEARVIEW}")).to_be_visible()
    notice = page.locator("tr[data-deadline='formal_notice_compliance']")
    # 2021-11-26 + 2 months = Wed 2022-01-26, a working day: nothing rolls (CPC art. 641)
    expect(notice.locator("td.due")).to_have_text("2022-01-26")
    expect(notice.locator("td.st-missed")).to_have_text("missed")
    sentences = notice.locator("ol.explanation li")
    expect(sentences.nth(0)).to_contain_text("2 months")
    expect(notice).to_contain_text("2 months after 2021-11-26 is 2022-01-26")
    expect(notice).to_contain_text("CPC art. 641")
    progress = page.locator("tr[data-deadline='complainant_progress']")
    # 2020-05-25 + 3 months = Tue 2020-08-25
    expect(progress.locator("td.due")).to_have_text("2020-08-25")
    # the engine referred the ignored notice; the timeline is in legal-date order
    expect(page.locator("#case-stage")).not_to_have_text("formal notice")
    dates = page.locator("table.timeline tbody tr td:first-child").all_inner_texts()
    assert dates == sorted(dates, key=lambda d: d[:10]) and dates[0].startswith("2020-05-25")
    # the notice was ignored and the engine referred the case itself: the regulator may
    # take the referral back or accept compliance after all (the CNIL family's undo), and
    # correct or withdraw a recorded event (numbered in the timeline)
    options = page.get_by_label("Event", exact=True).locator("option").all_inner_texts()
    assert {"referral undone", "compliance accepted", "event corrected",
            "event withdrawn"} <= set(options)
    expect(page.locator("table.timeline tr[data-seq='3']")).to_contain_text(
        "formal notice issued")
    # the register's deliveries: the complainant and the case handler were told
    expect(page.locator("table.notifications")).to_contain_text("complainant")
    with page.expect_download() as dl:
        page.get_by_role("link", name=re.compile("calendar file")).click()
    ics = Path(dl.value.path()).read_text()
    assert "BEGIN:VCALENDAR" in ics and "20220126" in ics
    shot(page, "case-clearview")
    page.context.close()


def test_an_event_is_recorded_and_a_refused_one_changes_nothing(browser: Browser,
                                                                stack: Stack) -> None:
    page = signed_in(browser, stack, REGULATOR)
    page.goto("/console/cases/ACME-000")
    expect(page.locator("#case-stage")).to_have_text("complaint")
    page.get_by_label("Event", exact=True).select_option("investigation_opened")
    page.get_by_role("button", name="Choose").click()
    page.get_by_label("Date", exact=True).fill(TODAY.isoformat())
    page.get_by_label("Kind").select_option("online")
    page.get_by_role("button", name="Record the event").click()
    expect(page.locator("#done")).to_have_text(
        "Recorded: investigation_opened. The case is now at stage investigation.")
    expect(page.locator("#case-stage")).to_have_text("investigation")
    rows = page.locator("table.timeline tbody tr").count()
    # the message was for that one page: a reload, or a link that claims it, shows none
    page.reload()
    expect(page.locator("#done")).to_have_count(0)
    page.goto("/console/cases/ACME-000?recorded=sanction_decided")
    expect(page.locator("#done")).to_have_count(0)

    # a rapporteur named before the complaint was even received: refused, shown, nothing
    # changes
    page.goto("/console/cases/ACME-000?type=rapporteur_designated")
    page.get_by_label("Date", exact=True).fill((TODAY - timedelta(days=400)).isoformat())
    page.get_by_role("button", name="Record the event").click()
    refusal = page.locator("#refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("The case refused this event; nothing was changed.")
    # the rule broken, in the engine's words, and where the case stands
    early = (TODAY - timedelta(days=400)).isoformat()
    expect(refusal).to_contain_text(
        f"rapporteur_designated rejected: dated {early}, before the case's first event "
        f"(complaint_received of {TODAY.isoformat()})")
    expect(refusal).to_contain_text("Stage: investigation. Accepted now: investigation_opened")
    expect(page.locator("#case-stage")).to_have_text("investigation")
    assert page.locator("table.timeline tbody tr").count() == rows
    shot(page, "case-event-refused")

    # a correction, from the timeline's own link: the event's number filled in, the
    # corrected event written as the CLI's file is (YAML)
    page.goto("/console/cases/ACME-000")
    page.locator("table.timeline tr[data-seq='2']").get_by_role("link", name="correct 2").click()
    expect(page.get_by_label("Seq")).to_have_value("2")
    page.get_by_label("Date", exact=True).fill(TODAY.isoformat())
    page.get_by_label("Reason").fill("the investigation was on documents")
    page.get_by_label("Corrected").fill(
        f"type: investigation_opened\ndate: {TODAY.isoformat()}\nkind: documents")
    page.get_by_role("button", name="Record the event").click()
    expect(page.locator("#done")).to_have_text(
        "Recorded: event_corrected. The case is now at stage investigation.")
    expect(page.locator("table.timeline")).to_contain_text("kind=documents")
    rows = page.locator("table.timeline tbody tr").count()

    # a malformed field: named, linked from the summary, nothing sent
    page.goto("/console/cases/ACME-000?type=information_requested")
    page.get_by_label("Date", exact=True).fill("26/11/2021")
    page.get_by_role("button", name="Record the event").click()
    summary = page.locator("#error-summary")
    expect(summary.get_by_role("link", name=re.compile("^Date:"))).to_be_visible()
    expect(page.locator("#case-stage")).to_have_text("investigation")
    assert page.locator("table.timeline tbody tr").count() == rows
    shot(page, "case-event-invalid")
    page.context.close()


def test_a_controller_sees_only_its_cases_and_events(browser: Browser, stack: Stack) -> None:
    page = signed_in(browser, stack, CLEARVIEW_TOKEN)
    assert register_ids(page) == [CLEARVIEW]
    page.goto("/console/cases/ACME-001")
    expect(page.locator(".message")).to_have_text("no case 'ACME-001'")
    page.goto("/console/open")
    expect(page.locator(".message")).to_contain_text("may not do this")
    # on its own referred case, the controller may send only its evidence of compliance
    # (the CNIL table at stage referred: rapporteur_designated is the authority's)
    page.goto(f"/console/cases/{CLEARVIEW}")
    expect(page.locator("#case-stage")).to_have_text("referred")
    options = page.get_by_label("Event", exact=True).locator("option").all_inner_texts()
    assert options == ["Choose…", "compliance evidence submitted"]
    # of the register's deliveries, only what was sent to the controller
    parties = page.locator("table.notifications tbody td:nth-child(2)").all_inner_texts()
    assert parties and set(parties) == {"controller"}
    expect(page.locator("table.webhooks")).to_have_count(0)
    page.context.close()
    # at stage complaint a controller has nothing to send: no form at all
    acme = signed_in(browser, stack, ACME_TOKEN)
    acme.goto("/console/cases/ACME-002")
    expect(acme.get_by_role("heading", name="Case ACME-002")).to_be_visible()
    expect(acme.get_by_role("heading", name="Record an event")).to_have_count(0)
    acme.context.close()
    viewer = signed_in(browser, stack, VIEWER)
    viewer.goto(f"/console/cases/{CLEARVIEW}")
    expect(viewer.get_by_role("heading", name="Record an event")).to_have_count(0)
    viewer.context.close()


def test_open_a_case_from_the_form(browser: Browser, stack: Stack) -> None:
    page = signed_in(browser, stack, REGULATOR)
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Case id", exact=True).fill("NEW-1")
    page.get_by_label("Controller's name").fill("Example SARL")
    page.get_by_label("Controller's country").fill("France")
    page.get_by_label("Subject").fill("cookies")
    page.get_by_label("Date of the complaint").fill(TODAY.isoformat())
    page.get_by_label("Complainant reference").fill("C-9")
    page.get_by_role("button", name="Open the case").click()
    expect(page.locator("#error-summary")).to_contain_text(
        "Controller's country: the two-letter country code, such as US or FR")
    shot(page, "open-refused")
    page.get_by_label("Controller's country").fill("FR")
    page.get_by_role("button", name="Open the case").click()
    expect(page.get_by_role("heading", name="Case NEW-1")).to_be_visible()
    # a complaint of today: the progress deadline is the same-numbered day 3 months later,
    # or a later working day (the page states which)
    expect(page.locator("tr[data-deadline='complainant_progress']")).to_contain_text(
        "3 months")
    page.context.close()


# --- calculator, procedures, simulation ------------------------------------------------------

def test_deadline_calculator_and_procedures(browser: Browser, stack: Stack) -> None:
    page = signed_in(browser, stack, VIEWER)
    page.get_by_role("link", name="Deadline calculator").click()
    page.get_by_label("Triggering event").fill("2022-07-14")
    page.get_by_label("Period").fill("1 month")
    page.get_by_role("button", name="Compute").click()
    # Thu 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is Assumption Day: Tue 16 Aug
    expect(page.get_by_role("heading", name="Due on 2022-08-16")).to_be_visible()
    expect(page.locator("ol.explanation")).to_contain_text("Assumption Day")
    shot(page, "deadline")
    page.get_by_label("Period").fill("2 fortnights")
    page.get_by_role("button", name="Compute").click()
    expect(page.locator("#error-summary")).to_contain_text("period")
    page.get_by_role("link", name="Procedures").click()
    expect(page.get_by_role("heading", name=re.compile(r"\(uk-ico\)"))).to_be_visible()
    expect(page.get_by_text("GDPR art. 78(2)").first).to_be_visible()
    shot(page, "procedures")
    page.context.close()


def test_simulation_page_runs_clearview_and_draws_the_chart(browser: Browser,
                                                            stack: Stack) -> None:
    page = signed_in(browser, stack, VIEWER)
    page.get_by_role("link", name="Simulation").click()
    page.get_by_label("A shipped scenario").select_option("clearview")
    page.get_by_role("button", name="Run the simulation").click()
    expect(page.get_by_role("heading", name=re.compile("^Results"))).to_be_visible(
        timeout=60_000)
    chart = page.locator("#chart svg")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["height"] > 200  # type: ignore[index]
    # the simulated Clearview notice: 2021-11-26 + 2 months = 2022-01-26, missed
    expect(page.locator(".report")).to_contain_text("2022-01-26")
    # the what-if "one-month extension" side by side: the notice's 2022-01-26 + 1 month =
    # Sat 2022-02-26, rolled to Mon 2022-02-28 (CPC art. 642): 33 days later
    expect(page.locator(".report")).to_contain_text("What if: side by side")
    expect(page.locator(".report")).to_contain_text("2022-02-28 (+33 d)")
    with page.expect_download() as dl:
        page.get_by_role("link", name="CSV").click()
    assert "2022-01-26" in Path(dl.value.path()).read_text()
    shot(page, "simulation")

    # a batch: its runs and seed as asked, and the outcome shares
    page.get_by_label("A shipped scenario").select_option("clearview-uncertain")
    page.get_by_label("Batch runs").fill("40")
    page.get_by_label("Seed").fill("7")
    page.get_by_role("button", name="Run the simulation").click()
    expect(page.locator(".report")).to_contain_text("Batch of 40 runs (seed 7)",
                                                    timeout=60_000)
    expect(page.locator(".report")).to_contain_text("Outcomes:")
    shot(page, "simulation-batch")

    bad = ("procedure: fr-cnil\nhorizon: 2023-01-01\ncase:\n  id: X\n"
           "  controller: {name: A, country: FR}\nevents:\n  - type: complaint_recieved\n"
           "    date: 2022-01-03\n")
    page.get_by_label("A shipped scenario").select_option("")
    page.get_by_label(re.compile("Or a scenario file")).set_input_files(
        {"name": "bad.yaml", "mimeType": "text/yaml", "buffer": bad.encode()})
    page.get_by_role("button", name="Run the simulation").click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("complaint_recieved")
    # the loader's message, with the file's name and the line of the misspelt type
    expect(summary).to_contain_text("bad.yaml:7: events[0].type: unknown event type "
                                    "'complaint_recieved'; accepted: complaint_received")
    shot(page, "simulation-bad-file")
    page.context.close()


# --- offline, accessible ---------------------------------------------------------------------

def test_pages_and_api_docs_load_nothing_from_outside(browser: Browser, stack: Stack) -> None:
    page = signed_in(browser, stack, REGULATOR)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    for path, ready in (("/docs", ".swagger-ui .info"), ("/redoc", "redoc-wrap, .redoc-wrap"),
                        (f"/console/cases/{CLEARVIEW}", "h1"), ("/console/simulate", "h1")):
        page.goto(path)
        page.wait_for_selector(ready, timeout=30_000)
        page.wait_for_load_state("networkidle")
        shot(page, path.strip("/").replace("/", "-"))
    expect(page.locator("h1")).to_have_text("Simulation")
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Enforcement engine")
    local = (stack.base_url, f"blob:{stack.base_url}", "data:")
    outside = [u for u in seen if not u.startswith(local)]
    assert seen and not outside, outside
    page.context.close()


PAGES = ("/console/cases", f"/console/cases/{CLEARVIEW}?type=sanction_decided",
         "/console/open", "/console/deadline", "/console/simulate")


def test_every_field_has_a_label_and_the_keyboard_reaches_it(browser: Browser,
                                                             stack: Stack) -> None:
    page = signed_in(browser, stack, REGULATOR)
    for path in PAGES:
        page.goto(path)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
              'input:not([type=hidden]), select, textarea')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.name)""")
        assert unlabelled == [], (path, unlabelled)
        # Tab from the top of the page reaches every field and button, in order
        fields = page.evaluate("""() => [...document.querySelectorAll(
              'main input:not([type=hidden]), main select, main textarea, main button')]
            .map(e => e.id || e.textContent.trim())""")
        reached: list[str] = []
        page.locator("body").focus()
        for _ in range(len(fields) + 40):
            page.keyboard.press("Tab")
            reached.append(page.evaluate(
                "() => document.activeElement.id || document.activeElement.textContent.trim()"))
        assert set(fields) <= set(reached), (path, set(fields) - set(reached))
    page.context.close()


def _luminance(rgb: str) -> float:
    parts = [int(x) / 255 for x in re.findall(r"\d+", rgb)[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_highlights_keep_text_readable(browser: Browser, stack: Stack) -> None:
    page = signed_in(browser, stack, REGULATOR)
    row = page.locator("tr[data-case='ACME-SOON']")
    expect(row).to_have_class(re.compile(r"\bsoon\b"))
    flag = row.locator(".flag")
    fg = flag.evaluate("e => getComputedStyle(e).color")
    bg = row.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent")  # it is highlighted
    assert contrast(fg, bg) >= 4.5, (fg, bg)
    text = row.locator("td").first.evaluate("e => getComputedStyle(e).color")
    assert contrast(text, bg) >= 4.5
    # the overdue colours, from the same style sheet, on a row made overdue in the page
    row.evaluate("e => e.className = 'overdue'")
    fg = flag.evaluate("e => getComputedStyle(e).color")
    bg = row.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent") and contrast(fg, bg) >= 4.5
    page.context.close()
