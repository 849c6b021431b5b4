"""Free text a user types is refused with a control character in it, in a plain field and in
a list of texts, naming the field, the character and its position; tabs and line breaks
are accepted."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from enforcement.case.models import EVENT_ADAPTER


@pytest.mark.parametrize(("event", "where"), [
    ({"type": "complaint_received", "date": "2024-01-05", "subject": "a\x1bb",
      "complainant_ref": "C-1"}, "subject contains the control character U+001B at position 1"),
    ({"type": "formal_notice_issued", "date": "2024-01-05", "measures": ["ok", "ba\x00d"]},
     "measures[1] contains the control character U+0000 at position 2"),
])
def test_control_characters_are_refused(event: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(f"{where}; accepted: printable text")):
        EVENT_ADAPTER.validate_python(event)


def test_tabs_and_line_breaks_are_text() -> None:
    ev = EVENT_ADAPTER.validate_python({"type": "formal_notice_issued", "date": "2024-01-05",
                                        "measures": ["stop\tnow", "delete\nall"]})
    assert ev.measures == ["stop\tnow", "delete\nall"]  # type: ignore[union-attr]
