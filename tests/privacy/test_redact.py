"""Logs never carry personal data: whatever a module logs through structlog or the standard
library (as temporalio's workflow.logger does), the rendered line holds none of the values
of personal-data keys, at any depth, nor e-mail addresses or values quoted by validation
errors."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from pydantic import ValidationError

import enforcement.privacy.redact
from enforcement.case.models import CaseInput, Controller
from enforcement.ops.logs import configure
from enforcement.privacy.redact import PERSONAL_KEYS, REDACTED, redact, redact_personal_data

EMAIL = "zoe.martin.7731@example.org"
REF = "CPL-Zoé-Martin-7731"
CONTROLLER = "Acme Facial Analytics Ségur SARL"
CONTROLLER_EMAIL = "dpo-7731@acme-facial.example"
SUBJECT = "photos of Zoé Martin scraped from her family blog"
MEASURE = "delete every image of Zoé's children"
EVIDENCE = "EVID-7731-deletion-certificate"
REASON = "Zoé Martin in hospital"
SECRETS = [EMAIL, REF, CONTROLLER, CONTROLLER_EMAIL, SUBJECT, MEASURE, EVIDENCE, REASON,
           "Zoé"]


def leaked(text: str) -> list[str]:
    return [s for s in SECRETS if s in text or json.dumps(s)[1:-1] in text]


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The engine's JSON logging, into a buffer; the previous configuration restored."""
    yield from _configured(json=True)


def _configured(json: bool) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure("DEBUG", json=json)
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_structlog_event_with_nested_personal_data(logs: io.StringIO) -> None:
    log = structlog.get_logger("test.redact")
    log.info("case.opened", case_id="MED-1", complainant_ref=REF, complainant_email=EMAIL,
             controller={"name": CONTROLLER, "email": CONTROLLER_EMAIL, "country": "FR"},
             events=[{"type": "complaint_received", "subject": SUBJECT},
                     {"type": "formal_notice_issued", "measures": [MEASURE]},
                     {"type": "compliance_evidence_submitted", "ref": EVIDENCE},
                     ({"type": "case_suspended", "reason": REASON},)],
             notification={"party": "complainant", "to": EMAIL,
                           "data": {"subject": SUBJECT, "anything": REF}},
             note=f"written to {EMAIL} and {CONTROLLER_EMAIL}", attempt=2)
    [line] = lines(logs)
    assert not leaked(logs.getvalue()), leaked(logs.getvalue())
    # What identifies the case and the step is still there; personal values are marked.
    assert line["event"] == "case.opened" and line["case_id"] == "MED-1"
    assert line["attempt"] == 2 and line["level"] == "info"
    assert line["complainant_ref"] == line["complainant_email"] == REDACTED
    assert line["controller"] == REDACTED
    assert [e["type"] for e in line["events"][:3]] == [
        "complaint_received", "formal_notice_issued", "compliance_evidence_submitted"]
    assert line["events"][3] == [{"type": "case_suspended", "reason": REDACTED}]
    assert line["events"][0]["subject"] == line["events"][2]["ref"] == REDACTED
    assert line["notification"] == {"party": "complainant", "to": REDACTED, "data": REDACTED}
    assert line["note"] == "written to [redacted-email] and [redacted-email]"


def test_stdlib_records_as_from_workflow_logger(logs: io.StringIO) -> None:
    """temporalio's workflow.logger is a stdlib logger: its `extra` becomes keys."""
    logging.getLogger("temporalio.workflow").warning(
        "event rejected", extra={"case_id": "MED-2", "event_type": "case_closed",
                                 "reason": REASON, "subject": SUBJECT,
                                 "temporal_workflow": {"workflow_id": "MED-2"}})
    logging.getLogger("some.library").info("mail for %s bounced", EMAIL)
    first, second = lines(logs)
    assert first["event"] == "event rejected" and first["case_id"] == "MED-2"
    assert first["reason"] == first["subject"] == REDACTED
    assert first["temporal_workflow"] == {"workflow_id": "MED-2"}
    assert second["event"] == "mail for [redacted-email] bounced"
    assert not leaked(logs.getvalue())


def test_bound_context_and_models(logs: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(case_id="MED-3", complainant_email=EMAIL)
    case = CaseInput(case_id="MED-3", controller=Controller(
        name=CONTROLLER, country="FR", email=CONTROLLER_EMAIL), complainant_ref=REF,
        complainant_email=EMAIL, subject=SUBJECT)
    structlog.get_logger("test.redact").info("case.received", case=case)
    [line] = lines(logs)
    assert line["case_id"] == "MED-3" and line["complainant_email"] == REDACTED
    assert line["case"]["case_id"] == "MED-3" and line["case"]["procedure"] == "fr-cnil"
    assert line["case"]["controller"] == line["case"]["subject"] == REDACTED
    assert not leaked(logs.getvalue())


def test_tracebacks_of_validation_errors(logs: io.StringIO) -> None:
    log = structlog.get_logger("test.redact")
    with pytest.raises(ValidationError):
        try:
            CaseInput(case_id="MED-4", controller=Controller(name=CONTROLLER, country="FR"),
                      complainant_email=f"{SUBJECT} <not an address>")
        except ValidationError:
            log.exception("case.invalid", case_id="MED-4")
            logging.getLogger("uvicorn.error").exception("request failed")
            raise
    first, second = lines(logs)
    for line in (first, second):
        assert "ValidationError" in line["exception"]
        assert "input_value=[redacted]" in line["exception"]
    assert not leaked(logs.getvalue()), leaked(logs.getvalue())


def test_console_renderer_is_redacted_too() -> None:
    for buffer in _configured(json=False):
        structlog.get_logger("test.redact").info("case.opened", case_id="MED-5",
                                                 complainant_email=EMAIL, subject=SUBJECT)
        text = buffer.getvalue()
        assert "MED-5" in text and REDACTED in text
        assert not leaked(text)


def test_the_processor_leaves_its_input_and_plain_values_alone() -> None:
    nested = {"controller": {"name": CONTROLLER}, "deadline": {"due": "2024-04-16"}}
    out = redact_personal_data(None, "info", {"event": "x", "nested": nested, "n": 3,
                                              "flag": True, "none": None, "to": None})
    assert out == {"event": "x", "nested": {"controller": REDACTED,
                                            "deadline": {"due": "2024-04-16"}},
                   "n": 3, "flag": True, "none": None, "to": None}
    assert nested == {"controller": {"name": CONTROLLER}, "deadline": {"due": "2024-04-16"}}
    assert redact({"Email": EMAIL, "SUBJECT": SUBJECT}) == {"Email": REDACTED,
                                                             "SUBJECT": REDACTED}
    deep: dict[str, Any] = {"k": "v"}
    for _ in range(30):
        deep = {"next": deep}
    assert "v" not in json.dumps(redact(deep))  # past the depth limit, nothing is shown


def test_the_documented_list_is_the_list() -> None:
    doc = enforcement.privacy.redact.__doc__ or ""
    for key in PERSONAL_KEYS:
        assert any(f" {key}{end}" in doc for end in ",;.\n"), key
    for key in ("complainant_ref", "complainant_email", "email", "controller_name", "subject",
                "ref", "reason", "measures", "name", "to", "data"):
        assert key in PERSONAL_KEYS


def test_uvicorn_loggers_go_through_the_pipeline() -> None:
    """uvicorn's CLI configures its loggers with their own handlers before the app factory
    runs; configure() takes them over."""
    uv = logging.getLogger("uvicorn.error")
    saved = uv.handlers[:], uv.propagate
    uv.handlers[:] = [logging.StreamHandler(io.StringIO())]
    uv.propagate = False
    try:
        for buffer in _configured(json=True):
            uv.error("request from %s failed", EMAIL)
            [line] = lines(buffer)
            assert line["logger"] == "uvicorn.error"
            assert line["event"] == "request from [redacted-email] failed"
    finally:
        uv.handlers[:], uv.propagate = saved
