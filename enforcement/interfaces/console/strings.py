"""Every string the console shows, in one place, so a translation is one more table.

Templates read them as `S.key`; code formats them with `text(key, **values)`. English only
for now; a French table with the same keys can follow (`STRINGS["fr"]`)."""

from __future__ import annotations

from typing import Any

EN: dict[str, str] = {
    # the frame
    "app": "Enforcement engine",
    "skip": "Skip to the content",
    "nav": "Sections",
    "nav_cases": "Cases",
    "nav_open": "Open a case",
    "nav_deadline": "Deadline calculator",
    "nav_procedures": "Procedures",
    "nav_simulate": "Simulation",
    "nav_api": "API documentation",
    "signed_in_as": "Signed in as {who} ({role})",
    "sign_out": "Sign out",
    "error_summary": "There is a problem",
    "footer": "Legal dates are computed by the engine's time-limit core; every explanation "
              "cites the rule it applied.",
    # sign-in
    "sign_in": "Sign in",
    "sign_in_intro": "Sign in with the API token you were given. Your role (regulator, "
                     "controller or viewer) decides what you can see and do, as in the API.",
    "token": "API token",
    "token_hint": "At least 16 characters. On a local engine started with make run, the "
                  "tokens are in the files var/tokens/regulator, controller and viewer.",
    "token_short": "A token has at least 16 characters; this one has {n}.",
    "token_unknown": "This token is not known to the engine: check it, or ask for one.",
    "token_missing": "Enter your API token.",
    "signed_out": "You are signed out.",
    "session_expired": "Your session has expired or is not valid: sign in again.",
    "csrf_failed": "This form has expired (its security token does not match): reload the "
                   "page and send it again. Nothing was changed.",
    # the register
    "cases_title": "Case register",
    "cases_intro": "Every case you may see, earliest deadline first. Overdue deadlines and "
                   "those due within seven days are highlighted.",
    "filter": "Filter",
    "filter_apply": "Apply filters",
    "filter_clear": "Clear",
    "any": "any",
    "stage": "Stage",
    "procedure": "Procedure",
    "controller": "Controller",
    "controller_hint": "The controller's exact name",
    "due_before": "Next deadline before",
    "due_before_hint": "A date, YYYY-MM-DD",
    "sort": "Sort by",
    "sort_deadline": "next deadline",
    "sort_case": "case id",
    "sort_stage": "stage",
    "sort_opened": "opened, newest first",
    "case_id": "Case",
    "status": "Status",
    "next_deadline": "Next deadline",
    "days_left": "Days left",
    "overdue": "overdue",
    "due_soon": "due this week",
    "no_deadline": "none running",
    "days_left_n": "{n} days",
    "days_left_1": "1 day",
    "days_over_1": "1 day overdue",
    "days_over_n": "{n} days overdue",
    "due_today": "due today",
    "no_cases": "No case matches these filters.",
    "no_cases_yet": "There is no case yet.",
    "page_of": "Page {page} of {pages} ({count} cases)",
    "page_of_1": "Page 1 of 1 (1 case)",
    "previous": "Previous page",
    "next": "Next page",
    "unkeyed": "{n} cases were opened without a controller key and cannot be listed for a "
               "controller; the regulator's register shows them.",
    "register_unread": "The outcome register could not be read ({why}): controller names "
                       "and deliveries are not shown.",
    # a case
    "case_title": "Case {case_id}",
    "facts": "Facts",
    "subject": "Subject",
    "outcome": "Outcome",
    "failure": "Why it stopped",
    "alerts": "Needs attention",
    "deadlines": "Deadlines",
    "deadline": "Deadline",
    "period": "Period",
    "from": "From",
    "due": "Due",
    "why": "How it was counted",
    "no_deadlines": "No deadline has run on this case yet.",
    "timeline": "Timeline",
    "timeline_intro": "In legal-date order: when each thing took effect, not when the engine "
                      "heard of it.",
    "date": "Date",
    "kind": "Kind",
    "what": "What",
    "detail": "Detail",
    "recorded": "Recorded",
    "sanction": "Sanction",
    "fine": "Fine",
    "penalty_per_day": "Penalty per day of delay",
    "penalty_days": "Days of delay",
    "penalty_accrued": "Penalty accrued",
    "liquidated": "Liquidated",
    "publish": "Published",
    "yes": "yes",
    "no": "no",
    "deliveries": "Notifications and webhook deliveries",
    "deliveries_intro": "From the outcome register: every message to a party, and each "
                        "webhook's outcome at each receiver.",
    "party": "Party",
    "channel": "Channel",
    "webhook_receiver": "Receiver",
    "no_deliveries": "Nothing is recorded for this case yet: messages appear here as the "
                     "worker sends them.",
    "calendar": "Download the deadlines as a calendar file (.ics)",
    "record_event": "Record an event",
    "record_intro": "The case checks the event before anything changes: a refused event "
                    "leaves the case as it was.",
    "event_type": "Event",
    "event_type_hint": "The events this case accepts now at stage {stage}",
    "choose": "Choose",
    "record": "Record the event",
    "recorded_ok": "Recorded: {event}. The case is now at stage {stage}.",
    "refused": "The case refused this event; nothing was changed.",
    "refused_stage": "Stage: {stage}. Accepted now: {accepted}.",
    "list_hint": "One per line",
    "date_hint": "The date it happened: YYYY-MM-DD (taken as noon in the procedure's time "
                 "zone), or a date-time with its offset (2022-10-20T18:00+02:00)",
    "day_hint": "A date, YYYY-MM-DD",
    "period_hint": "Such as '2 months', '15 days' or '72 hours'",
    "period_default_hint": "Such as '2 months'. Left blank: the procedure's default period "
                           "(see Procedures; the engine says which it used)",
    "corrected_hint": "The event as it should have been recorded, in YAML or JSON: its type "
                      "and date and its other fields, one per line, such as "
                      "type: formal_notice_issued / date: 2021-11-26 / period: 2 months",
    "line_prefix": "line ",
    "correct": "correct",
    "withdraw": "withdraw",
    "seq": "#",
    "history": "Changed by a late record",
    "was": "was {status}, now {to}: {reason} (recorded {at}{by})",
    "no_events_for_role": "Your role cannot record any event on this case now.",
    # open a case
    "open_title": "Open a case",
    "open_intro": "Complaint intake: who the case concerns, under which procedure, and the "
                  "complaint that opens it.",
    "controller_name": "Controller's name",
    "case_id_label": "Case id",
    "case_id_hint": "Your reference for the case, such as MED-2021-134: letters, digits and "
                    ". _ : - only",
    "country_code": "the two-letter country code, such as US or FR",
    "controller_country": "Controller's country",
    "controller_country_hint": "Two letters, ISO 3166 (FR, US, GB)",
    "controller_email": "Controller's email",
    "turnover": "Controller's annual turnover in euros",
    "complaint_date": "Date of the complaint",
    "complainant_ref": "Complainant reference",
    "complainant_ref_hint": "A pseudonymous reference, not a name",
    "open": "Open the case",
    "opened_ok": "Case {case_id} is open.",
    # deadline calculator
    "deadline_title": "Deadline calculator",
    "deadline_intro": "A legal deadline under a procedure's calendar and counting rules, "
                      "explained sentence by sentence.",
    "start": "Triggering event",
    "start_hint": "A date (2022-07-14) or a date-time with its offset",
    "compute": "Compute",
    "due_on": "Due on {due}",
    "expires_at": "Expires at {at}",
    "rules": "Counting rules",
    # procedures
    "procedures_title": "Procedures",
    "procedures_intro": "Each procedure's stages and periods, with the source of each period.",
    "family": "Family",
    "authority": "Authority",
    "stages": "Stages",
    "periods": "Periods",
    "source": "Source",
    "unconfirmed": "reading not confirmed",
    "sources": "Sources",
    # simulation
    "simulate_title": "Simulation",
    "simulate_intro": "Run a scenario on the in-process engine: its deadlines, the chart, the "
                      "what-ifs side by side and, for a batch, the outcome shares and "
                      "percentiles. Nothing is written anywhere.",
    "shipped": "A shipped scenario",
    "upload": "Or a scenario file (YAML, at most {size} KB)",
    "runs": "Batch runs",
    "runs_hint": "For a scenario with a batch section: at most {max} here",
    "seed": "Seed",
    "run": "Run the simulation",
    "results": "Results: {name}",
    "download": "Download",
    "busy": "Simulations are running; try again shortly.",
    "rejected_events": "Events the case refused: {n}",
    # errors
    "not_found": "Not found",
    "not_found_case": "There is no case {case_id!r} that you may see.",
    "forbidden": "Your role ({role}) may not do this; it needs: {needs}.",
    "unavailable": "The engine is not reachable right now ({why}). Nothing was changed.",
    "field_error": "{field}: {message}",
    "unknown_value": "unknown {what} {value!r}; accepted: {accepted}",
    "controller_only": "a controller may send only {events}; {event} is the authority's",
    "whole_number": "expected a whole number, got {value!r}",
    "file_too_large": "the file is larger than {size} KB",
    "file_not_text": "the file is not UTF-8 text (a YAML scenario file)",
    "results_kinds": "no such file; accepted: result.json, result.csv, result.ics",
    "form_unreadable": "the form could not be read ({why}); nothing was changed",
    "too_large": "the request is {size:,} bytes; at most {limit:,} are accepted here, "
                 "nothing was changed",
    "method": "this page does not take a {method} request; nothing was changed",
    "not_text": "expected text, not a file",
    "controller_filter": "a controller's register shows only its own cases",
    "case_id_pattern": "letters, digits and . _ : - only, such as MED-2021-134",
    "email_pattern": "an email address, such as dpo@example.org",
    "too_long": "at most {n} characters",
    "results_gone": "this simulation's files are no longer kept: run it again",
    "back": "Back to the register",
}

STRINGS: dict[str, dict[str, str]] = {"en": EN}


class Strings:
    """`S.key` in templates; a missing key fails loudly rather than showing nothing."""

    def __init__(self, table: dict[str, str]) -> None:
        self._table = table

    def __getattr__(self, key: str) -> str:
        try:
            return self._table[key]
        except KeyError:
            raise AttributeError(f"no console string {key!r}") from None

    def __call__(self, key: str, **values: Any) -> str:
        return self._table[key].format(**values)


S = Strings(EN)


def text(key: str, **values: Any) -> str:
    return S(key, **values)
