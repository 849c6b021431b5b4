"""Logs never carry personal data: a structlog processor that blanks the values of
personal-data keys, at any depth, before an event is rendered.

Logs are kept longer, copied wider and read by more people than the case data itself, which
lives encrypted in Temporal and in the register. So every log line, whether from structlog
(activities, API, CLI) or from the standard library (temporalio's `workflow.logger`, whose
`extra` becomes keys), passes through `redact_personal_data` as the last step before the
renderer (see enforcement/ops/logs.py).

The rule, by key name (case-insensitive), wherever the key sits (top level, nested dicts,
dicts inside lists, pydantic models, which are dumped first): the value of a key in
PERSONAL_KEYS is replaced whole by "[redacted]", whatever its type. The keys are:

- people and organisations: complainant, complainant_ref, complainant_email,
  complainant_name, controller, controller_name, controller_email, name, email, to, cc,
  bcc, recipient, recipients, address, phone, recorded_by;
- free text about a case, which can quote anyone: subject, reason, measures, ref, detail,
  body, text, data, comment, observations.

A value's text cannot be known in advance, so two patterns are also masked in every string
that remains, messages and rendered tracebacks included: e-mail addresses become
"[redacted-email]", and pydantic's `input_value=...` in validation errors becomes
`input_value=[redacted]`.

Log what identifies the case and the step instead: case_id, key (`case_id:step`),
event_type, party, template, stage, status, attempt, error. A field that is personal data
and is not listed here must be added here, with a test in tests/privacy/test_redact.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from pydantic import BaseModel

REDACTED = "[redacted]"
REDACTED_EMAIL = "[redacted-email]"

PERSONAL_KEYS: frozenset[str] = frozenset({
    # people and organisations
    "complainant", "complainant_ref", "complainant_email", "complainant_name",
    "controller", "controller_name", "controller_email",
    "name", "email", "to", "cc", "bcc", "recipient", "recipients", "address", "phone",
    "recorded_by",
    # free text about a case
    "subject", "reason", "measures", "ref", "detail", "body", "text", "data", "comment",
    "observations",
})

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PYDANTIC_INPUT = re.compile(r"input_value=.*?, input_type=")

_MAX_DEPTH = 20


def scrub_text(text: str) -> str:
    """A string with e-mail addresses and pydantic input values masked."""
    if "@" in text:
        text = EMAIL.sub(REDACTED_EMAIL, text)
    if "input_value=" in text:
        text = PYDANTIC_INPUT.sub(f"input_value={REDACTED}, input_type=", text)
    return text


def redact(value: Any, depth: int = 0) -> Any:
    """`value` with personal data removed (a new object; the original is left as it is)."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(k, str) and k.lower() in PERSONAL_KEYS
                    and v is not None else redact(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, depth + 1) for v in value]
    return value


def redact_personal_data(_logger: Any, _method: str,
                         event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The structlog processor: the event dict with personal data removed."""
    for key in list(event_dict):
        value = event_dict[key]
        if key.lower() in PERSONAL_KEYS and value is not None:
            event_dict[key] = REDACTED
        elif key.startswith("_") or key == "exc_info":  # structlog's bookkeeping; the
            continue  # console renderer formats exc_info itself (JSON logs get `exception`)
        else:
            event_dict[key] = redact(value)
    return event_dict
