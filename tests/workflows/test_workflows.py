"""The case lifecycle on the real workflows (time-skipping server; events sent one by one on
the dev server), with the register checked in SQLite and PostgreSQL. Every expected date is
computed by the time-limit core itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from enforcement.case.models import EVENT_ADAPTER, CaseInput, CaseStatus, Controller, Event
from enforcement.families import get_procedure
from enforcement.law.timelimits import compute_deadline, extend_deadline
from enforcement.ops.temporal import CaseError, case_status, open_case, send_event
from enforcement.simulation.engine import SimCase, simulate
from tests.fixtures_temporal import days_ago, running_worker

FR = get_procedure("fr-cnil")
CAL = FR.cal
D = date.fromisoformat


def ev(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


CLEARVIEW = [
    ev(type="complaint_received", date="2020-05-25", subject="facial recognition scraping",
       complainant_ref="C-2020-001"),
    ev(type="investigation_opened", date="2020-08-26", kind="online"),
    ev(type="formal_notice_issued", date="2021-11-26", period="2 months",
       measures=["stop collecting", "delete data"]),
    ev(type="rapporteur_designated", date="2022-06-02"),
    ev(type="report_notified", date="2022-07-14"),
    ev(type="hearing_scheduled", date="2022-09-01", hearing_date="2022-10-13"),
    ev(type="hearing_held", date="2022-10-13"),
    ev(type="sanction_decided", date="2022-10-17", fine_eur=20_000_000,
       injunction_period="2 months", penalty_per_day_eur=100_000, publish=True),
    ev(type="decision_notified", date="2022-10-17"),
    ev(type="liquidation_opened", date="2023-02-09", cutoff="2023-02-09"),
    ev(type="penalty_liquidated", date="2023-04-13"),
    ev(type="case_closed", date="2023-05-02", reason="penalty liquidated"),
]


def clearview_case(case_id: str = "MED-2021-134") -> CaseInput:
    return CaseInput(case_id=case_id, procedure="fr-cnil",
                     controller=Controller(name="Clearview AI Inc.", country="US"),
                     complainant_ref="C-2020-001")


def by_name(status: CaseStatus) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for d in status.deadlines:
        out.setdefault(d.name, []).append(d)
    return out


async def test_clearview_full_path(ts_env: WorkflowEnvironment, register: Register) -> None:
    async with running_worker(ts_env.client, register) as tq:
        case = clearview_case().model_copy(update={"events": CLEARVIEW[:1]})
        prefix = f"cv-{register.engine.dialect.name}-"
        [status] = await simulate(ts_env, tq, [SimCase(case, CLEARVIEW[1:], D("2023-05-10"))],
                                  prefix=prefix)
    assert status.status == "closed"
    dl = by_name(status)
    # Every date comes from the core: recompute each one independently here.
    notice = compute_deadline(D("2021-11-26"), "2 months", CAL, FR.rules)
    assert dl["formal_notice_compliance"][0].due == notice.due.isoformat() == "2022-01-26"
    assert dl["formal_notice_compliance"][0].status == "missed"
    assert dl["formal_notice_compliance"][0].explanation == list(notice.explanation)
    report = compute_deadline(D("2022-07-14"), "1 month", CAL, FR.rules)
    assert dl["report_observations"][0].due == report.due.isoformat() == "2022-08-16"
    # A controller established in the US gets 2 + 2 months to appeal (CJA R421-7), counted
    # as a délai franc (R421-1): Fri 17 Feb 2023, franc Sat 18 Feb, rolled Mon 20 Feb.
    appeal = compute_deadline(D("2022-10-17"), "4 months", CAL, "fr-cja")
    assert dl["appeal"][0].due == appeal.due.isoformat() == "2023-02-20"
    assert "outside FR" in dl["appeal"][0].explanation[0]
    inj = compute_deadline(D("2022-10-17"), "2 months", CAL, FR.rules)
    assert dl["injunction_compliance"][0].due == inj.due.isoformat() == "2022-12-19"
    # Referral when the 5 working days of grace after the notice's expiry are over (Thu 27
    # Jan to Wed 2 Feb 2022), recorded by the engine itself.
    referral = [t for t in status.timeline if t.name == "referred_to_sanction"]
    assert referral and referral[0].date == "2022-02-03"
    assert referral[0].recorded_by == "engine"
    # 20 Dec 2022 .. 9 Feb 2023 inclusive = 52 days at EUR 100,000 (SAN-2023-005: 5.2M).
    assert status.sanction.penalty_days == 52
    assert status.sanction.penalty_eur == 5_200_000
    assert status.sanction.liquidated_eur == 5_200_000
    assert status.sanction.fine_eur == 20_000_000
    # Reminders went out 14 and 3 days before the notice's deadline.
    reminders = [t.date for t in status.timeline
                 if t.kind == "reminder" and t.name == "formal_notice_compliance"]
    assert reminders == ["2022-01-12T09:00:00+01:00", "2022-01-23T09:00:00+01:00"]

    rows = register.case_rows(prefix + "MED-2021-134")
    events = [r["type"] for r in rows["events"]]
    assert events[:3] == ["complaint_received", "investigation_opened", "formal_notice_issued"]
    assert "referred_to_sanction" in events and events[-1] == "case_closed"
    assert len(events) == len(CLEARVIEW) + 1
    assert register.verify()[1] is None  # the event rows' SHA-256 chain holds
    current = {r["name"]: r for r in rows["deadlines"]}
    assert current["injunction_compliance"]["due"] == "2022-12-19"
    assert current["formal_notice_compliance"]["status"] == "missed"
    kinds = [r["kind"] for r in rows["decisions"]]
    assert "sanction" in kinds and "liquidation" in kinds
    liq = next(r for r in rows["decisions"] if r["kind"] == "liquidation")
    assert liq["amount_eur"] == 5_200_000
    assert rows["cases"][0]["status"] == "closed"
    keys = [r["key"] for r in rows["notifications"]]
    assert len(keys) == len(set(keys)) > 10


async def test_compliance_before_the_deadline_closes_the_case(
        ts_env: WorkflowEnvironment, register: Register) -> None:
    case = clearview_case("ONTIME").model_copy(update={"events": [CLEARVIEW[0]]})
    events = [ev(type="formal_notice_issued", date="2022-03-01", period="2 months"),
              ev(type="compliance_evidence_submitted", date="2022-04-20", ref="DPO letter"),
              ev(type="compliance_accepted", date="2022-04-25")]
    async with running_worker(ts_env.client, register) as tq:
        [status] = await simulate(ts_env, tq, [SimCase(case, events, D("2022-12-31"))])
    assert (status.status, status.outcome) == ("closed", "complied")
    notice = by_name(status)["formal_notice_compliance"][0]
    assert (notice.due, notice.status) == ("2022-05-02", "met")  # Sun 1 May -> Mon 2 May
    assert not any(t.name == "referred_to_sanction" for t in status.timeline)
    # Only the 14-day reminder (18 Apr) fell before compliance; no 3-day reminder.
    assert [t.date[:10] for t in status.timeline if t.kind == "reminder"
            and t.name == "formal_notice_compliance"] == ["2022-04-18"]


async def test_extension_moves_the_deadline_and_a_second_is_rejected(
        ts_env: WorkflowEnvironment, register: Register) -> None:
    case = clearview_case("EXT").model_copy(update={"events": [CLEARVIEW[0]]})
    events = [ev(type="formal_notice_issued", date="2022-03-01", period="2 months"),
              ev(type="extension_granted", date="2022-04-15",
                 deadline="formal_notice_compliance", period="1 month"),
              ev(type="extension_granted", date="2022-05-20",
                 deadline="formal_notice_compliance", period="1 month"),
              ev(type="compliance_accepted", date="2022-05-25")]
    async with running_worker(ts_env.client, register) as tq:
        [status] = await simulate(ts_env, tq, [SimCase(case, events, D("2022-12-31"))])
    notices = by_name(status)["formal_notice_compliance"]
    first = compute_deadline(D("2022-03-01"), "2 months", CAL)
    second = extend_deadline(first, CAL, period="1 month")
    assert [n.status for n in notices] == ["extended", "met"]  # the second was rejected
    assert notices[1].due == second.due.isoformat() == "2022-06-02"
    assert status.outcome == "complied"


async def test_suspension_moves_running_deadlines(
        ts_env: WorkflowEnvironment, register: Register) -> None:
    case = clearview_case("SUSP").model_copy(update={"events": [CLEARVIEW[0]]})
    events = [ev(type="formal_notice_issued", date="2022-03-01", period="2 months"),
              ev(type="case_suspended", date="2022-03-10", reason="court referral"),
              ev(type="case_resumed", date="2022-06-20"),
              ev(type="compliance_accepted", date="2022-07-01")]
    async with running_worker(ts_env.client, register) as tq:
        [status] = await simulate(ts_env, tq, [SimCase(case, events, D("2022-12-31"))])
    notice = by_name(status)["formal_notice_compliance"][0]
    # Raw end Sun 1 May + 102 days of suspension = Thu 11 Aug 2022. Not missed meanwhile.
    assert notice.due == "2022-08-11"
    assert notice.status == "met"
    assert "suspended for 102 days" in " ".join(notice.explanation)


# Events sent one by one as updates, on the dev server's real clock with recent dates: no
# virtual time is needed, and every date means the same whenever the suite runs (the
# time-skipping server's clock is wherever earlier tests left it).

async def test_rejections_name_the_stage_and_change_nothing(
        dev_env: WorkflowEnvironment, register: Register) -> None:
    client = dev_env.client
    cid = f"REJ-{uuid.uuid4().hex[:6]}"
    case = CaseInput(case_id=cid, procedure="fr-cnil",
                     controller=Controller(name="Acme", country="FR",
                                           annual_turnover_eur=1_000_000_000),
                     events=[ev(type="complaint_received", date=days_ago(20),
                                subject="cookies", complainant_ref="C-9")])
    async with running_worker(client, register) as tq:
        handle = await open_case(client, case, tq, search_attributes=False)
        before = await handle.query("status", result_type=CaseStatus)
        with pytest.raises(CaseError, match=r"stage 'complaint'; accepted now: .*"
                                            r"formal_notice_issued"):
            await send_event(client, cid, ev(type="hearing_held", date=days_ago(19)))
        with pytest.raises(CaseError, match="under the minimum of 10 days"):
            await send_event(client, cid, ev(type="formal_notice_issued",
                                             date=days_ago(19), period="5 days"))
        with pytest.raises(CaseError, match="no pending deadline named 'appeal'"):
            await send_event(client, cid, ev(type="extension_granted", date=days_ago(19),
                                             deadline="appeal", period="1 month"))
        after = await handle.query("status", result_type=CaseStatus)
        assert after == before
        # Duplicate ids are applied once.
        notice = ev(type="formal_notice_issued", date=days_ago(19), period="2 months",
                    id="MED-1")
        s1 = await send_event(client, cid, notice)
        s2 = await send_event(client, cid, notice)
        assert len(s1.deadlines) == len(s2.deadlines)
        assert [d.name for d in s2.deadlines].count("formal_notice_compliance") == 1
        assert s2.stage == "formal_notice"
        await handle.terminate("test over")


async def test_caps_and_hearing_notice_rejected_at_the_sanction_stage(
        dev_env: WorkflowEnvironment, register: Register) -> None:
    client = dev_env.client
    cid = f"CAPS-{uuid.uuid4().hex[:6]}"
    case = CaseInput(case_id=cid, procedure="fr-cnil",
                     controller=Controller(name="Big Co", country="FR",
                                           annual_turnover_eur=1_000_000_000),
                     events=[ev(type="rapporteur_designated", date=days_ago(20)),
                             ev(type="report_notified", date=days_ago(19))])
    async with running_worker(client, register) as tq:
        await open_case(client, case, tq, search_attributes=False)
        with pytest.raises(CaseError, match="under the minimum notice of 15 days"):
            await send_event(client, cid, ev(type="hearing_scheduled", date=days_ago(18),
                                             hearing_date=days_ago(8)))
        await send_event(client, cid, ev(type="hearing_scheduled", date=days_ago(18),
                                         hearing_date=days_ago(3)))
        await send_event(client, cid, ev(type="hearing_held", date=days_ago(3)))
        # 4% of EUR 1bn = EUR 40M is the cap for this controller.
        with pytest.raises(CaseError, match="above the cap of 40,000,000"):
            await send_event(client, cid, ev(type="sanction_decided", date=days_ago(2),
                                             fine_eur=45_000_000))
        with pytest.raises(CaseError, match="above the cap of 100,000 per day"):
            await send_event(client, cid, ev(type="sanction_decided", date=days_ago(2),
                                             fine_eur=1, injunction_period="1 month",
                                             penalty_per_day_eur=200_000))
        status = await send_event(client, cid, ev(type="sanction_decided",
                                                  date=days_ago(2), fine_eur=30_000_000))
        assert status.stage == "decided" and status.sanction.fine_eur == 30_000_000
        assert status.workflow_id == f"{cid}:sanction"
        await client.get_workflow_handle(cid).terminate("test over")


async def test_a_closed_case_accepts_nothing(ts_env: WorkflowEnvironment,
                                             register: Register) -> None:
    client = ts_env.client
    cid = f"DISMISS-{uuid.uuid4().hex[:6]}"
    case = CaseInput(case_id=cid, controller=Controller(name="X", country="FR"),
                     events=[ev(type="complaint_received", date="2026-11-01", subject="s",
                                complainant_ref="c"),
                             ev(type="no_breach_found", date="2026-11-02")])
    async with running_worker(client, register) as tq:
        handle = await open_case(client, case, tq, search_attributes=False)
        result = await handle.result()
        assert (result.status, result.outcome) == ("closed", "dismissed")
        with pytest.raises(CaseError, match="closed"):
            await send_event(client, cid, ev(type="case_closed", date="2026-11-03"))


async def test_an_undone_referral_comes_back_from_the_sanction_workflow(
        ts_env: WorkflowEnvironment, register: Register) -> None:
    # Notice received Tue 1 Mar 2022 for 2 months: Sun 1 May, rolled to Mon 2 May 2022.
    # Unanswered, the referral waits 5 working days (Tue 3 to Mon 9 May) and is final at
    # 24:00 on Mon 9 May: dated Tue 10 May 2022. The regulator takes it back on Mon 16 May.
    notice = ev(type="formal_notice_issued", date="2022-03-01", period="2 months")
    undo = ev(type="referral_undone", date="2022-05-16", reason="evidence sent in time")
    accepted = clearview_case("UNDO-1").model_copy(update={"events": [CLEARVIEW[0]]})
    rejected = clearview_case("UNDO-2").model_copy(update={"events": [CLEARVIEW[0]]})
    prefix = f"undo-{register.engine.dialect.name}-"
    async with running_worker(ts_env.client, register) as tq:
        done, again = await simulate(ts_env, tq, [
            # back at the formal notice, the regulator accepts the (late) compliance
            SimCase(accepted, [notice, undo, ev(type="compliance_accepted",
                                                date="2022-05-20")], D("2022-12-31")),
            # or rejects the evidence: referred again, a second sanction-stage workflow
            SimCase(rejected, [notice, undo, ev(type="compliance_rejected", date="2022-05-20"),
                               ev(type="rapporteur_designated", date="2022-06-01"),
                               ev(type="case_closed", date="2022-06-15", reason="withdrawn")],
                    D("2022-12-31"))], prefix=prefix)
    assert (done.status, done.outcome) == ("closed", "complied")
    outcomes = [(t.date, t.name) for t in done.timeline if t.kind == "outcome"]
    assert outcomes[:3] == [("2022-05-02", "referral_provisional"),
                            ("2022-05-10", "referred_to_sanction"),
                            ("2022-05-16", "referral_undone")]
    assert by_name(done)["formal_notice_compliance"][0].status == "missed"
    assert (again.status, again.outcome) == ("closed", "withdrawn")
    assert [t.date for t in again.timeline if t.kind == "outcome"
            and t.name == "referred_to_sanction"] == ["2022-05-10", "2022-05-20"]
    # the register has both referrals, recorded by the engine, and the closure
    rows = register.case_rows(prefix + "1-UNDO-2")  # the second case of the batch
    assert [(r["type"], r["data"].get("recorded_by")) for r in rows["events"]
            if r["type"] in ("referred_to_sanction", "referral_undone")] == [
        ("referred_to_sanction", "engine"), ("referral_undone", None),
        ("referred_to_sanction", "engine")]
    assert rows["cases"][0]["status"] == "closed"


async def test_a_correction_takes_a_referred_case_back_to_its_formal_notice(
        ts_env: WorkflowEnvironment, register: Register) -> None:
    # Recorded as 10 days from Tue 1 Mar 2022: Fri 11 Mar; grace Mon 14 to Fri 18 Mar,
    # referred Sat 19 Mar. The notice said 3 months: Wed 1 Jun 2022, so on Mon 21 Mar the
    # correction takes the case back, and compliance on Mon 2 May meets the notice.
    case = clearview_case("FIX-1").model_copy(update={"events": [CLEARVIEW[0]]})
    wrong = ev(type="formal_notice_issued", date="2022-03-01", period="10 days")
    fix = ev(type="event_corrected", date="2022-03-21", seq=2, reason="the notice says 3 months",
             corrected={"type": "formal_notice_issued", "date": "2022-03-01",
                        "period": "3 months"})
    async with running_worker(ts_env.client, register) as tq:
        [status] = await simulate(ts_env, tq, [SimCase(case, [
            wrong, fix, ev(type="compliance_accepted", date="2022-05-02")], D("2022-12-31"))])
    assert (status.status, status.outcome) == ("closed", "complied")
    [notice] = by_name(status)["formal_notice_compliance"]
    assert (notice.due, notice.period, notice.status) == ("2022-06-01", "3 months", "met")
    assert [h.to for h in notice.history] == ["pending"]  # missed, then pending again
    names = [t.name for t in status.timeline if t.kind == "outcome"]
    assert names[:3] == ["referral_provisional", "referred_to_sanction", "event_corrected"]


async def wait_for(env: WorkflowEnvironment, case_id: str,
                   done: Callable[[CaseStatus], bool]) -> CaseStatus:
    """The case's status once `done` holds (real time: queries do not skip time)."""
    for _ in range(200):
        try:
            status = await case_status(env.client, case_id)
        except (CaseError, RPCError, WorkflowQueryFailedError):
            status = None
        if status is not None and done(status):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"case {case_id} did not get there")


async def test_an_event_sent_as_the_sanction_workflow_hands_the_case_back_is_not_lost(
        ts_env: WorkflowEnvironment, register: Register, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    # The Clearview notice, long run out on today's clock: referred at once. The regulator
    # takes the referral back; an event sent at that moment reaches the sanction-stage
    # workflow just as it ends, and must follow the case to its main workflow.
    import enforcement.ops.temporal as temporal

    case = clearview_case(f"BACK-{uuid.uuid4().hex[:6]}").model_copy(
        update={"events": [CLEARVIEW[0], CLEARVIEW[2]]})
    async with running_worker(ts_env.client, register) as tq:
        await open_case(ts_env.client, case, tq, search_attributes=False)
        child = f"{case.case_id}:sanction"
        await wait_for(ts_env, case.case_id, lambda s: s.workflow_id == child)
        await send_event(ts_env.client, case.case_id, ev(
            type="referral_undone", date=days_ago(0), reason="evidence sent in time"))
        await wait_for(ts_env, case.case_id, lambda s: s.stage == "formal_notice"
                       and s.workflow_id == case.case_id)
        calls: list[str] = []

        def stale(case_id: str) -> str:
            calls.append(case_id)  # as if the case had just said it moved to the child
            return child
        monkeypatch.setattr(temporal, "_first_target", stale)
        done = await send_event(ts_env.client, case.case_id, ev(
            type="compliance_evidence_submitted", date=days_ago(0), ref="letter"))
        monkeypatch.undo()
        # closed while its worker runs: no workflow is left waiting on the shared server
        await send_event(ts_env.client, case.case_id, ev(
            type="case_closed", date=days_ago(0), reason="test over"))
        await ts_env.client.get_workflow_handle(case.case_id).result()
    assert calls == [case.case_id]
    assert [t.name for t in done.timeline if t.kind == "event"][-1] == (
        "compliance_evidence_submitted")


async def test_the_history_keeps_a_small_answer_per_event_not_the_status(
        ts_env: WorkflowEnvironment, register: Register) -> None:
    # Each update's answer stays in the history: with the whole status in it, a case's
    # history grew with the square of its events (50 MB, where Temporal ends a workflow,
    # at a few hundred events).
    client = ts_env.client
    cid = f"SMALL-{uuid.uuid4().hex[:6]}"
    case = CaseInput(case_id=cid, controller=Controller(name="X", country="FR"),
                     events=[ev(type="complaint_received", date=days_ago(40), subject="s",
                                complainant_ref="c"),
                             ev(type="investigation_opened", date=days_ago(40),
                                kind="online")])
    async with running_worker(client, register) as tq:
        await open_case(client, case, tq, search_attributes=False)
        for i in range(15):
            status = await send_event(client, cid, ev(
                type="information_requested", date=days_ago(39 - i), period="1 month"))
        assert len([t for t in status.timeline if t.kind == "event"]) == 17  # the status
        answers = [e.workflow_execution_update_completed_event_attributes.outcome.success
                   async for e in client.get_workflow_handle(cid).fetch_history_events()
                   if e.HasField("workflow_execution_update_completed_event_attributes")]
        assert len(answers) == 15
        # {"seq": n, "stage": "investigation", "status": "open"}: some 50 bytes, however
        # long the case
        assert max(len(p.data) for a in answers for p in a.payloads) < 100
        # closed while its worker runs: no workflow is left waiting on the shared server
        await send_event(client, cid, ev(type="case_closed", date=days_ago(0),
                                         reason="test over"))
        await client.get_workflow_handle(cid).result()
