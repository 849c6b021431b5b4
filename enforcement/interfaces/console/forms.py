"""Forms built from the engine's own models: an event's fields from its pydantic model, and
a form's text read back into that model, with each error on the field it concerns."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from enforcement.case.models import EVENT_ADAPTER, EVENT_TYPES, Day, Event, _Event
from enforcement.interfaces.api.errors import field_errors
from enforcement.interfaces.console.strings import S
from enforcement.simulation.scenarios import ScenarioError, read_yaml

Kind = Literal["text", "moment", "number", "checkbox", "select", "lines", "json"]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: Kind
    required: bool
    hint: str = ""
    options: tuple[str, ...] = ()
    default: str = ""


@dataclass
class FormErrors:
    """Errors by field name ("" for the form as a whole), in the order found."""

    by_field: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        if name not in self.by_field:
            self.by_field[name] = message
        elif message not in self.by_field[name].split("; "):
            self.by_field[name] += "; " + message

    def __bool__(self) -> bool:
        return bool(self.by_field)


def _models() -> dict[str, type[BaseModel]]:
    union = typing.get_args(Event)[0]
    out = {}
    for model in typing.get_args(union):
        out[model.model_fields["type"].annotation.__args__[0]] = model
    assert set(out) == set(EVENT_TYPES)
    return out


MODELS = _models()
_BASE = set(_Event.model_fields) - {"date"}


def _bare(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether None was allowed."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _is_day(annotation: Any) -> bool:
    bare, _ = _bare(annotation)
    return bare is Day or (typing.get_origin(bare) is typing.Annotated
                           and typing.get_args(bare)[0] is date)


# The procedure's period a blank `period` stands for (the family's default)
DEFAULT_PERIODS = {("formal_notice_issued", "period"): "formal_notice_compliance",
                   ("information_requested", "period"): "information_response"}


def _kind(name: str, annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    bare, _ = _bare(annotation)
    origin = typing.get_origin(bare)
    if origin is typing.Annotated:
        bare = typing.get_args(bare)[0]
        origin = typing.get_origin(bare)
    if bare is bool:
        return "checkbox", ()
    if bare is int:
        return "number", ()
    if origin is Literal:
        return "select", tuple(str(a) for a in typing.get_args(bare))
    if origin is list:
        return "lines", ()
    if name == "corrected":
        return "json", ()
    if name == "date":
        return "moment", ()
    return "text", ()


def event_fields(event_type: str) -> list[FormField]:
    """The fields a person fills in for `event_type`: its model's, without `type` and the
    bookkeeping every event may carry (`id`)."""
    model = MODELS[event_type]
    out = []
    for name, info in model.model_fields.items():
        if name == "type" or name in _BASE:
            continue
        kind, options = _kind(name, info.annotation)
        default = info.get_default(call_default_factory=True)
        if info.is_required() or default is None:
            default = ""
        label = name.removesuffix("_eur").replace("_", " ").capitalize()
        hint = (info.description or "").replace("`", "")
        if name == "date":
            hint = S.date_hint
        elif _is_day(info.annotation):
            hint = S.day_hint
        elif name == "corrected":
            hint = S.corrected_hint
        elif (event_type, name) in DEFAULT_PERIODS:
            hint = S.period_default_hint
        elif "period" in name and not hint:
            hint = S.period_hint
        out.append(FormField(
            name=name, label=label + (" (EUR)" if name.endswith("_eur") else ""), kind=kind,
            required=info.is_required(), hint=hint, options=options,
            default="" if isinstance(default, bool | list) else str(default)))
    return out


def read_event(event_type: str, form: Mapping[str, Any]) -> tuple[Event | None, FormErrors]:
    """The event the form describes, or the errors by field; an empty field is left out
    (the model's default, or its "field required")."""
    errors = FormErrors()
    data: dict[str, Any] = {"type": event_type}
    for f in event_fields(event_type):
        raw = form.get(f.name)
        value = raw.strip() if isinstance(raw, str) else raw
        if f.kind == "checkbox":
            data[f.name] = value in ("on", "true", "1")
        elif value in (None, ""):
            continue
        elif f.kind == "number":
            try:
                data[f.name] = int(str(value).replace(",", "").replace("_", ""))
            except ValueError:
                errors.add(f.name, S("whole_number", value=value))
        elif f.kind == "lines":
            data[f.name] = [line.strip() for line in str(value).splitlines() if line.strip()]
        elif f.kind == "json":
            # YAML (as the CLI's file) or JSON, read by the scenario loader: bounded in size
            # and depth, with the line of a mistake
            try:
                data[f.name] = read_yaml(str(value), f.name, "an event")
            except ScenarioError as exc:
                errors.add(f.name, str(exc).replace(f"{f.name}:", S.line_prefix))
        else:
            data[f.name] = value
    if errors:
        return None, errors
    try:
        return EVENT_ADAPTER.validate_python(data), errors
    except ValidationError as exc:
        for e in field_errors(exc.errors()):
            parts = e["field"].split(".")
            # the union's tag comes first: formal_notice_issued.period -> period
            name = parts[1] if len(parts) > 1 and parts[0] == event_type else parts[0]
            errors.add(name if name in data or name in MODELS[event_type].model_fields
                       else "", e["message"])
        return None, errors
