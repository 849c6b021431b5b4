"""The CLI as a shell user meets it: output piped into `head` ends quietly (exit 0), an
unknown event type is named with the accepted ones, and `case event --help` lists them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from enforcement.case.models import EVENT_TYPES

ENFORCE = Path(sys.executable).parent / "enforce"


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    # `enforce procedures show fr-cnil | head -1`: the reader takes one line and leaves
    p = subprocess.Popen([str(ENFORCE), "procedures", "show", "fr-cnil"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.readline().startswith(b"fr-cnil")
    p.stdout.close()
    assert p.wait(timeout=60) == 0
    assert p.stderr.read() == b""


def test_an_unknown_event_type_is_named_with_the_accepted_ones() -> None:
    done = subprocess.run([str(ENFORCE), "case", "event", "X-1", "formal_notce_issued"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"error: unknown event type 'formal_notce_issued'; accepted: "
                           f"{', '.join(EVENT_TYPES)}\n")


def test_case_event_help_lists_the_event_types() -> None:
    done = subprocess.run([str(ENFORCE), "case", "event", "--help"], capture_output=True,
                          text=True, timeout=60, env={"COLUMNS": "400", "PATH": ""})
    text = " ".join(done.stdout.split())
    assert done.returncode == 0
    for name in ("formal_notice_issued", "penalty_notice_given", "event_withdrawn"):
        assert name in text


def test_the_cli_dials_the_address_make_run_left(tmp_path: Path) -> None:
    # `make run` on another port leaves its address beside its database; a CLI in another
    # terminal, without TEMPORAL_ADDRESS, dials that one (here nothing answers there)
    (tmp_path / "temporal-address").write_text("127.0.0.1:9\n")
    env = {"PATH": "", "HOME": str(tmp_path),
           "ENFORCE_DEV_SERVER_DB": str(tmp_path / "temporal.db")}
    done = subprocess.run([str(ENFORCE), "case", "show", "ANY"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach Temporal at 127.0.0.1:9 (")
    assert done.stderr.count("\n") == 1


def test_a_long_reason_is_cut_between_words() -> None:
    from enforcement.interfaces.cli import _shortened

    text = "connection refused by the server " * 20
    short = _shortened(text, 50)
    assert short == "connection refused by the server connection ..."
    assert _shortened("short reason") == "short reason"


def test_flags_show_no_value_in_help() -> None:
    done = subprocess.run([str(ENFORCE), "case", "list", "--help"], capture_output=True,
                          text=True, timeout=60, env={"COLUMNS": "120", "PATH": ""})
    assert done.returncode == 0
    assert "<bool>" not in done.stdout
    assert "<int range>" in done.stdout  # options that take a value still say which
