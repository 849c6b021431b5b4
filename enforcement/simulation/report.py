"""What `enforce simulate` shows and writes: the runs of a scenario (as written, its what-if
variants, a batch of draws) through the real workflows, then the object of domain.md
section 4 per run, the dates that moved between variants, percentiles over a batch, and the
terminal tables, CSV, iCalendar and Gantt chart (PNG or HTML) made from them.

Every date shown comes from the workflows' status (computed by the time-limit core); this
module only compares, counts and draws.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from enforcement.case.ics import case_calendar
from enforcement.case.models import CaseStatus
from enforcement.families import get_procedure, machine_class
from enforcement.simulation.batch import (
    PERCENTILES,
    SANCTION_FIELDS,
    RunResult,
    Tally,
    amounts,
    default_jobs,
    drawn_items,
    key_dates,
    plan_of,
    run_local,
    run_object,
    run_temporal,
    sizing,
)
from enforcement.simulation.model import Progress
from enforcement.simulation.scenarios import BASE, RunPlan, Scenario


@dataclass
class Report:
    scenario: Scenario
    results: list[RunResult]
    runs: int = 0
    seed: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    tallies: dict[str, Tally] = field(default_factory=dict)

    @property
    def nominal(self) -> list[RunResult]:
        return [r for r in self.results if r.nominal]

    @property
    def drawn(self) -> list[RunResult]:
        return [r for r in self.results if not r.nominal]

    @property
    def single(self) -> bool:
        return len(self.results) == 1


# --- running ----------------------------------------------------------------------------------

def plans(scenario: Scenario, runs: int | None = None, seed: int | None = None
          ) -> tuple[list[RunPlan], int, int | None]:
    """The scenario and each variant as written, then, with a batch, `runs` drawn runs of
    each (the same draws for every variant, so they compare run by run)."""
    out = [scenario.plan(v) for v in (None, *scenario.variants)]
    n, used_seed = sizing(scenario, runs, seed)
    if used_seed is not None:
        out += [plan_of(scenario, item) for item in drawn_items(scenario, n, used_seed)]
    return out, n, used_seed


def run_scenario(scenario: Scenario, runs: int | None = None, seed: int | None = None,
                 register_url: str | None = None, progress: Progress | None = None, *,
                 engine: str = "local", jobs: int | None = None, keep: bool = True,
                 sink: Path | None = None) -> Report:
    """Run the scenario, its what-ifs and its batch on `engine` ("local": in this process and
    `jobs` others; "temporal": the real workflows on the time-skipping server)."""
    n, used_seed = sizing(scenario, runs, seed)
    if engine == "temporal":
        done = asyncio.run(run_temporal(scenario, n, used_seed, keep=keep, sink=sink,
                                        register_url=register_url, progress=progress))
    else:
        register = None
        if register_url is not None:
            from activities.register import Register
            from activities.register_db import make_engine, migrate
            migrate(register_url)
            register = Register(make_engine(register_url))
        try:
            done = run_local(scenario, n, used_seed, jobs=jobs or default_jobs(), keep=keep,
                             sink=sink, register=register, progress=progress)
        finally:
            if register is not None:
                register.engine.dispose()
    report = Report(scenario, [*done.nominal, *done.drawn], done.runs, done.seed,
                    tallies=done.tallies)
    report.summary = summarize(report)
    return report


# --- the objects of domain.md section 4 -------------------------------------------------------

def document(report: Report) -> dict[str, Any]:
    """One run: its object. Variants or a batch: every run, then the summary."""
    if report.single:
        return run_object(report.results[0])
    return {"runs": [run_object(r) for r in report.results], "summary": report.summary}


# --- comparing runs ---------------------------------------------------------------------------

def _days(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


def compare(base: CaseStatus, other: CaseStatus) -> dict[str, Any]:
    """What differs in `other` from `base`: the dates that moved, those that appear or
    disappear, the outcome and the amounts."""
    a, b = key_dates(base), key_dates(other)
    moved = []
    for key in [*a, *(k for k in b if k not in a)]:
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        moved.append({"what": key, "scenario": va, "variant": vb,
                      "days": _days(va, vb) if va and vb else None})
    changed = {k: {"scenario": v, "variant": amounts(other)[k]}
               for k, v in amounts(base).items() if amounts(other)[k] != v}
    for k in ("status", "stage", "outcome"):
        if getattr(base, k) != getattr(other, k):
            changed[k] = {"scenario": getattr(base, k), "variant": getattr(other, k)}
    return {"moved": moved, "changed": changed}


def summarize(report: Report) -> dict[str, Any]:
    sc = report.scenario
    out: dict[str, Any] = {"scenario": sc.name, "case_id": sc.case.case_id,
                           "procedure": sc.procedure, "horizon": sc.horizon.isoformat()}
    nominal = report.nominal
    base = nominal[0]
    if len(nominal) > 1:
        out["variants"] = [
            {"variant": r.plan.variant,
             "description": next((v.description for v in sc.variants
                                  if v.name == r.plan.variant), ""),
             "status": r.status.status, "outcome": r.status.outcome, "stage": r.status.stage,
             "rejected_events": len(r.outcome.rejected),
             **compare(base.status, r.status)}
            for r in nominal[1:]]
    if report.runs:
        assert sc.batch is not None
        out["batch"] = {"runs": report.runs, "seed": report.seed,
                        "draws": [d.text for d in sc.batch.draws],
                        "by_variant": {k: t.summary() for k, t in report.tallies.items()
                                       if t.runs}}
    return out


# --- terminal ---------------------------------------------------------------------------------

def _money(v: int | None, currency: str) -> str:
    return "-" if v is None else f"{v:,} {currency}"


_STATUS_STYLE = {"met": "green", "missed": "red", "exercised": "green", "lapsed": "yellow",
                 "extended": "dim", "cancelled": "dim", "pending": "cyan"}


def render_run(console: Console, r: RunResult, explain: bool = True) -> None:
    st = r.status
    proc = get_procedure(st.procedure)
    c = st.controller
    title = f"{st.case_id}: {c.name} ({c.country}) under {st.procedure}"
    if r.plan.variant != BASE:
        title += f", what if: {r.plan.variant}"
    console.print(Text(title, style="bold"))
    console.print(f"simulated to {r.plan.horizon.isoformat()}: status {st.status}, stage "
                  f"{st.stage}" + (f", outcome {st.outcome}" if st.outcome else ""),
                  highlight=False)
    table = Table("deadline", "period", "from", "due", "status", title="Deadlines",
                  title_justify="left")
    for d in st.deadlines:
        table.add_row(d.name, d.period, d.trigger_date, Text(d.due, style="bold"),
                      Text(d.status, style=_STATUS_STYLE.get(d.status, "")))
    console.print(table)
    if explain:
        console.print(Text("Why each date", style="bold"))
        for d in st.deadlines:
            console.print(f"{d.name} due {d.due} ({d.status}):", highlight=False)
            for sentence in d.explanation:
                console.print(f"  - {sentence}", highlight=False)
    notes = sum(1 for t in st.timeline if t.kind == "notification")
    tl = Table("date", "kind", "what", "detail", title="Timeline", title_justify="left",
               caption=f"and {notes} notifications to the parties (in --json and --csv)"
               if notes else None, caption_justify="left")
    for t in st.timeline:
        if t.kind == "notification":
            continue
        style = {"outcome": "bold", "reminder": "dim"}.get(t.kind, "")
        tl.add_row(t.date[:16].replace("T", " "), t.kind, Text(t.name, style=style), t.detail)
    console.print(tl)
    sf = st.sanction
    sanction = Table("fine", "penalty per day", "days of delay", "penalty accrued",
                     "liquidated", title="Sanction", title_justify="left")
    sanction.add_row(_money(sf.fine_eur, proc.currency),
                     _money(sf.penalty_per_day_eur, proc.currency), str(sf.penalty_days),
                     _money(sf.penalty_eur, proc.currency),
                     _money(sf.liquidated_eur, proc.currency))
    console.print(sanction)
    render_rejections(console, r)


def render_rejections(console: Console, r: RunResult) -> None:
    if r.outcome.rejected:
        console.print(Text(f"Rejected events ({len(r.outcome.rejected)}): the case refused "
                           f"these scripted events", style="bold red"))
        for x in r.outcome.rejected:
            console.print(Text(f"  x {x.date} {x.type} at stage {x.stage}: ", style="red")
                          + Text(x.reason))
    if r.outcome.after_horizon:
        console.print(f"[yellow]not delivered (dated after the horizon "
                      f"{r.plan.horizon.isoformat()}):[/yellow] "
                      + ", ".join(f"{e.type} {e.date.isoformat()}"
                                  for e in r.outcome.after_horizon), highlight=False)


def render_variants(console: Console, report: Report) -> None:
    nominal = report.nominal
    base = nominal[0]
    table = Table("", *(r.plan.variant for r in nominal), title="What if",
                  title_justify="left")
    base_dates = key_dates(base.status)
    all_dates = {r.plan.variant: key_dates(r.status) for r in nominal}
    keys = list(base_dates)
    for r in nominal[1:]:
        keys += [k for k in all_dates[r.plan.variant] if k not in keys]
    for key in keys:
        cells: list[Text | str] = []
        for r in nominal:
            v = all_dates[r.plan.variant].get(key)
            b = base_dates.get(key)
            if r is base or v == b:
                cells.append(v or "-")
            elif v and b:
                cells.append(Text(f"{v} ({_days(b, v):+d} d)", style="bold yellow"))
            else:
                cells.append(Text(v or "-", style="bold yellow"))
        table.add_row(key, *cells)
    currency = get_procedure(base.status.procedure).currency
    for label in ("status", "stage", "outcome"):
        row = [str(getattr(r.status, label) or "-") for r in nominal]
        table.add_row(label, *[Text(v, style="bold yellow") if v != row[0] else v
                               for v in row], style="bold" if label == "status" else "")
    for k in SANCTION_FIELDS:
        vals = [getattr(r.status.sanction, k) for r in nominal]
        if not any(vals):
            continue
        text = [(_money(v, currency) if k != "penalty_days" else str(v)) for v in vals]
        table.add_row(k, *[Text(t, style="bold yellow") if v != vals[0] else t
                           for t, v in zip(text, vals, strict=True)])
    table.add_row("rejected events", *[str(len(r.outcome.rejected)) for r in nominal])
    console.print(table)
    for r in nominal[1:]:
        if r.outcome.rejected or r.outcome.after_horizon:
            console.print(Text(f"what if: {r.plan.variant}", style="bold"))
            render_rejections(console, r)


def render_batch(console: Console, report: Report) -> None:
    batch = report.summary.get("batch")
    if not batch:
        return
    console.print(Text(f"Batch: {batch['runs']} runs, seed {batch['seed']}", style="bold"))
    for d in batch["draws"]:
        console.print(f"  draw {d}", highlight=False)
    currency = get_procedure(report.scenario.procedure).currency
    # A narrow terminal gets the median and the 5th and 95th percentiles; --json has all.
    cols = ["min", *(f"p{p}" for p in PERCENTILES), "max"] if console.width >= 110 \
        else ["p5", "p50", "p95"]
    for variant, s in batch["by_variant"].items():
        outcomes = ", ".join(f"{k.replace('_', ' ')} {100 * v:.1f}%"
                             for k, v in s["shares"].items())
        table = Table("", *cols, title=f"{variant}: {outcomes}; runs with rejected events: "
                                      f"{s['runs_with_rejected_events']}",
                      title_justify="left")
        for key, p in s["dates"].items():
            if p["n"] < s["runs"]:
                key = f"{key} ({p['n']} runs)"
            table.add_row(key, *(p[c] for c in cols))
        for key, p in s["amounts"].items():
            def fmt(v: int, key: str = key) -> str:
                return f"{v:,}" if key == "penalty_days" else _money(v, currency)
            table.add_row(key, *(fmt(p[c]) for c in cols))
        console.print(table)


def render(console: Console, report: Report) -> None:
    render_run(console, report.nominal[0])
    if len(report.nominal) > 1:
        render_variants(console, report)
    render_batch(console, report)


# --- files ------------------------------------------------------------------------------------

CSV_FIELDS = ("variant", "run", "record", "name", "date", "due", "status", "kind", "detail")


def write_csv(path: Path, report: Report) -> None:
    """Every run's deadlines, timeline, refused events and sanction figures, one per row."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, CSV_FIELDS)
        w.writeheader()
        for r in report.results:
            base = {"variant": r.plan.variant, "run": "" if r.plan.run is None else r.plan.run}
            st = r.status
            for d in st.deadlines:
                w.writerow({**base, "record": "deadline", "name": d.name,
                            "date": d.trigger_date, "due": d.due, "status": d.status,
                            "detail": " ".join(d.explanation)})
            for t in st.timeline:
                w.writerow({**base, "record": "timeline", "name": t.name, "date": t.date,
                            "kind": t.kind, "detail": t.detail})
            for x in r.outcome.rejected:
                w.writerow({**base, "record": "rejected", "name": x.type, "date": x.date,
                            "status": "rejected", "kind": x.stage, "detail": x.reason})
            w.writerow({**base, "record": "outcome", "name": st.outcome or st.stage,
                        "date": r.plan.horizon.isoformat(), "status": st.status,
                        "kind": st.stage})
            for k, v in amounts(st).items():
                w.writerow({**base, "record": "sanction", "name": k,
                            "detail": "" if v is None else v})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "variant"


def sibling(path: Path, variant: str) -> Path:
    return path.with_name(f"{path.stem}.{_slug(variant)}{path.suffix}")


def write_ics(path: Path, report: Report) -> list[Path]:
    """The scenario's deadlines as it is written, in `path`; each variant's beside it
    (`<name>.<variant>.ics`), its events named after the variant."""
    written = []
    for r in report.nominal:
        st = r.status
        target = path
        if r.plan.variant != BASE:
            st = st.model_copy(update={"case_id": f"{st.case_id} ({r.plan.variant})"})
            target = sibling(path, r.plan.variant)
        target.write_bytes(case_calendar(st))
        written.append(target)
    return written


def _stage_spans(st: CaseStatus, end: date) -> list[tuple[str, date, date]]:
    stage_after = machine_class(get_procedure(st.procedure)).STAGE_AFTER
    marks: list[tuple[date, str]] = []
    for t in st.timeline:
        stage = stage_after.get(t.name)
        if stage is not None and (t.kind in ("event", "outcome")):
            day = date.fromisoformat(t.date[:10])
            if not marks or marks[-1][1] != stage:
                marks.append((day, stage))
    spans = []
    for i, (day, stage) in enumerate(marks):
        if stage == "closed":
            break
        stop = marks[i + 1][0] if i + 1 < len(marks) else end
        spans.append((stage, day, max(stop, day + timedelta(days=1))))
    return spans


def _num(d: date) -> float:
    """A day as matplotlib's date number (matplotlib.dates is not typed)."""
    import matplotlib.dates as mdates
    return float(mdates.date2num(d))  # type: ignore[no-untyped-call]


def _date_axis(axis: Any, fmt: str) -> None:
    import matplotlib.dates as mdates
    axis.set_major_formatter(mdates.DateFormatter(fmt))  # type: ignore[no-untyped-call]


_MARKER_COLOR = {"met": "tab:green", "missed": "tab:red", "exercised": "tab:green",
                 "lapsed": "tab:orange", "extended": "0.6", "cancelled": "0.75",
                 "pending": "tab:blue"}


def _gantt(ax: Any, r: RunResult) -> None:
    st = r.status
    end = r.plan.horizon
    rows = ["stages", *dict.fromkeys(d.name for d in st.deadlines), "events", "reminders"]
    y = {name: len(rows) - 1 - i for i, name in enumerate(rows)}
    starts = [date.fromisoformat(t.date[:10]) for t in st.timeline] or [end]
    span_days = max(1, (end - min(starts)).days)
    palette = ["#4c78a8", "#f58518", "#54a24b", "#b79a20", "#439894", "#e45756", "#83bcb6",
               "#9d755d", "#bab0ac", "#d67195", "#a2c8ec", "#ffbf79", "#8cd17d"]
    for i, (stage, a, b) in enumerate(_stage_spans(st, end)):
        ax.barh(y["stages"], (b - a).days, left=_num(a), height=0.6,
                color=palette[i % len(palette)], edgecolor="white")
        label = stage.replace("_", " ")
        if (b - a).days > span_days / 25:
            ax.text(_num(a) + (b - a).days / 2, y["stages"], label,
                    ha="center", va="center", fontsize=6, color="white", clip_on=True)
        else:  # too short for its name: above the bar, slanted
            ax.text(_num(a) + (b - a).days / 2, y["stages"] + 0.35, label, ha="left",
                    va="bottom", fontsize=5, rotation=30, clip_on=True)
    for d in st.deadlines:
        start = date.fromisoformat(d.trigger_date[:10])
        due = date.fromisoformat(d.due[:10])
        ax.barh(y[d.name], max((due - start).days, 1), left=_num(start),
                height=0.25, color="0.85")
        ax.plot(_num(due), y[d.name], marker="D", markersize=6,
                color=_MARKER_COLOR.get(d.status, "black"), linestyle="none")
        if d.status != "extended":
            ax.annotate(d.due[:10], (_num(due), y[d.name]), xytext=(4, 4),
                        textcoords="offset points", fontsize=6)
    events = [t for t in st.timeline if t.kind in ("event", "outcome")]
    for t in events:
        x = _num(date.fromisoformat(t.date[:10]))
        ax.plot([x, x], [y["events"] - 0.3, y["events"] + 0.3],
                color="tab:red" if t.kind == "outcome" else "black", linewidth=1)
        ax.text(x, y["events"] + 0.32, t.name.replace("_", " "), fontsize=4.5, rotation=35,
                ha="left", va="bottom", clip_on=True,
                color="tab:red" if t.kind == "outcome" else "black")
    reminders = [t for t in st.timeline if t.kind == "reminder"]
    for t in reminders:
        x = _num(date.fromisoformat(t.date[:10]))
        ax.plot([x, x], [y["reminders"] - 0.25, y["reminders"] + 0.25], color="tab:orange",
                linewidth=1)
    for rej in r.outcome.rejected:
        ax.plot(_num(date.fromisoformat(rej.date[:10])), y["events"], marker="x",
                color="tab:red", markersize=7, linestyle="none")
    ax.axvline(_num(end), color="0.4", linestyle="--", linewidth=0.8)
    ax.set_yticks([y[n] for n in rows], [n.replace("_", " ") for n in rows], fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    title = st.case_id if r.plan.variant == BASE else f"{st.case_id}, what if: {r.plan.variant}"
    outcome = f"{st.status}, {st.outcome or st.stage}"
    currency = get_procedure(st.procedure).currency
    if st.sanction.fine_eur:
        outcome += f"; fine {_money(st.sanction.fine_eur, currency)}"
    if st.sanction.penalty_eur:
        outcome += (f"; penalty {st.sanction.penalty_days} days, "
                    f"{_money(st.sanction.penalty_eur, currency)}")
    ax.set_title(f"{title} ({outcome})", fontsize=9, loc="left")
    ax.xaxis_date()
    ax.grid(axis="x", color="0.92")


def _batch_tally(report: Report) -> Tally | None:
    """The batch of the scenario as written (else the first variant's)."""
    tallies = [t for t in report.tallies.values() if t.runs]
    base = report.tallies.get(BASE)
    return base if base is not None and base.runs else (tallies[0] if tallies else None)


def _histograms(tally: Tally) -> list[tuple[str, list[float], list[int], bool]]:
    """Up to three quantities that vary across the batch, with how often each value came:
    amounts first, then dates."""
    out: list[tuple[str, list[float], list[int], bool]] = []
    for k in ("penalty_eur", "penalty_days", "liquidated_eur"):
        money = tally.money.get(k)
        if money and any(money) and len(money) > 1:
            amounts_seen = sorted(money.items())
            out.append((k, [float(v) for v, _ in amounts_seen],
                        [c for _, c in amounts_seen], False))
    for k, counts in tally.dates.items():
        if len(counts) > 1:
            items = sorted(counts.items())
            out.append((k, [_num(date.fromisoformat(v)) for v, _ in items],
                        [c for _, c in items], True))
    return out[:3]


def _shares(ax: Any, tally: Tally) -> None:
    """The outcome shares of a batch, in the family's categories, as labelled bars."""
    summary = tally.summary()["shares"]
    names = list(summary)
    ax.barh(range(len(names)), [100 * summary[n] for n in names], color="#4c78a8")
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    for i, n in enumerate(names):
        ax.text(min(100 * summary[n] + 1, 80), i, f"{100 * summary[n]:.1f}%", va="center",
                fontsize=7)
    ax.set_title(f"outcomes of {tally.runs:,} runs (%)", fontsize=8)
    ax.tick_params(labelsize=6)


def _legend() -> list[Any]:
    from matplotlib.lines import Line2D

    handles: list[Any] = [Line2D([], [], marker="D", color=c, linestyle="none", label=f"due: {s}")
                          for s, c in _MARKER_COLOR.items()]
    handles += [Line2D([], [], marker="|", color="black", linestyle="none", label="event"),
                Line2D([], [], marker="|", color="tab:red", linestyle="none", label="outcome"),
                Line2D([], [], marker="|", color="tab:orange", linestyle="none",
                       label="reminder"),
                Line2D([], [], marker="x", color="tab:red", linestyle="none",
                       label="rejected event"),
                Line2D([], [], color="0.4", linestyle="--", label="horizon")]
    return handles


def figure(report: Report) -> Any:
    """The chart; names from the scenario file (case, what-ifs) are drawn as written, never
    read as matplotlib's math markup (`$...$`)."""
    import matplotlib
    matplotlib.use("Agg")

    with matplotlib.rc_context({"text.parse_math": False}):
        return _figure(report)


def _figure(report: Report) -> Any:
    import matplotlib.pyplot as plt

    nominal = report.nominal[:6]
    tally = _batch_tally(report)
    hists = _histograms(tally) if tally is not None else []
    heights = [2.2 + 0.35 * (3 + len({d.name for d in r.status.deadlines})) for r in nominal]
    if tally is not None:
        heights.append(2.6)
    fig = plt.figure(figsize=(12, sum(heights) + 0.5))
    cols = 1 + len(hists) if tally is not None else 1
    grid = fig.add_gridspec(len(heights), cols, height_ratios=heights)
    first = None
    for i, r in enumerate(nominal):
        ax = fig.add_subplot(grid[i, :], sharex=first)
        first = first or ax
        _gantt(ax, r)
    if first is not None:
        _date_axis(first.xaxis, "%Y-%m")
    if first is not None:
        first.legend(handles=_legend(), loc="upper left", fontsize=6, ncol=4,
                     bbox_to_anchor=(0.0, -0.12), frameon=False)
    if tally is not None:
        _shares(fig.add_subplot(grid[len(nominal), 0]), tally)
    currency = get_procedure(report.scenario.procedure).currency
    for j, (name, values, weights, is_date) in enumerate(hists, start=1):
        ax = fig.add_subplot(grid[len(nominal), j])
        ax.hist(values, bins=min(20, max(5, len(values))), weights=weights, color="#4c78a8")
        unit = "" if is_date or name == "penalty_days" else f" ({currency})"
        ax.set_title(name.replace("_", " ") + unit, fontsize=8)
        ax.tick_params(labelsize=6)
        if is_date:
            ax.xaxis_date()
            _date_axis(ax.xaxis, "%Y-%m-%d")
            for label in ax.get_xticklabels():
                label.set_rotation(30)
    height = fig.get_figheight()
    fig.suptitle(f"Simulated timeline: {report.scenario.name}", fontsize=11,
                 y=1 - 0.12 / height)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height))  # the title above the first panel
    return fig


def write_plot(path: Path, report: Report) -> None:
    """A Gantt chart: stages as bars, deadlines as markers at their due dates (green met, red
    missed, grey extended), events and reminders as ticks, the horizon dashed; with a batch,
    histograms of what varied. PNG, or an HTML page with the chart as inline SVG."""
    import matplotlib.pyplot as plt

    if path.suffix.lower() == ".png":
        fig = figure(report)
        try:
            fig.savefig(path, dpi=130)
        finally:
            plt.close(fig)
        return
    path.write_text(_html(report, chart_svg(report)), encoding="utf-8")


def chart_svg(report: Report) -> str:
    """The chart of `write_plot` as an inline SVG element (for a page that loads nothing)."""
    import matplotlib.pyplot as plt

    fig = figure(report)
    try:
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def _html(report: Report, svg: str) -> str:
    """The whole report in one file that loads nothing: the chart (inline SVG), then
    `report_sections`."""
    esc = html.escape
    return "\n".join([
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Simulation: {esc(report.scenario.name)}</title><style>"
        "body{font-family:sans-serif;margin:1.5em;max-width:1200px}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}"
        ".missed{color:#b00000}.met{color:#006100}.moved{background:#fff3b0}"
        "details{margin:.5em 0}summary{cursor:pointer}"
        "</style></head><body>",
        f"<h1>Simulation: {esc(report.scenario.name)}</h1>", svg, report_sections(report),
        f"<p><small>Generated {esc(datetime.now().isoformat(timespec='seconds'))} by "
        f"enforce simulate.</small></p></body></html>"])


def report_sections(report: Report) -> str:
    """The report's HTML below its chart (the simulation file and the console's page): the
    what-ifs side by side; for the scenario and each what-if its deadlines with every
    sentence of their explanation, its sanction figures and its timeline; the batch's
    outcome shares and percentiles."""
    esc = html.escape
    currency = get_procedure(report.scenario.procedure).currency
    parts: list[str] = []
    nominal = report.nominal
    if len(nominal) > 1:
        parts.append("<h2>What if: side by side</h2><table><tr><th></th>"
                     + "".join(f"<th>{esc(r.plan.variant)}</th>" for r in nominal) + "</tr>")
        dates = [key_dates(r.status) for r in nominal]
        keys = list(dict.fromkeys(k for kd in dates for k in kd))
        for key in keys:
            base = dates[0].get(key)
            cells = []
            for kd in dates:
                v = kd.get(key)
                moved = v != base
                shown = f"{v} ({_days(base, v):+d} d)" if moved and v and base else (v or "-")
                cells.append(f"<td{' class=moved' if moved else ''}>{esc(shown)}</td>")
            parts.append(f"<tr><td>{esc(key)}</td>{''.join(cells)}</tr>")
        for label in ("status", "stage", "outcome"):
            vals = [str(getattr(r.status, label) or "-") for r in nominal]
            parts.append(f"<tr><td>{label}</td>" + "".join(
                f"<td{' class=moved' if v != vals[0] else ''}>{esc(v)}</td>" for v in vals)
                + "</tr>")
        for k in SANCTION_FIELDS:
            vals2 = [getattr(r.status.sanction, k) for r in nominal]
            if any(vals2):
                parts.append(f"<tr><td>{esc(k)}</td>" + "".join(
                    f"<td{' class=moved' if v != vals2[0] else ''}>"
                    f"{esc(str(v) if k == 'penalty_days' else _money(v, currency))}</td>"
                    for v in vals2) + "</tr>")
        parts.append("</table>")
    for r in nominal:
        st = r.status
        label = "as written" if r.plan.variant == BASE else f"what if: {r.plan.variant}"
        parts.append(f"<h2>{esc(st.case_id)} ({esc(label)})</h2><p>simulated to "
                     f"{r.plan.horizon.isoformat()}: status {esc(st.status)}, stage "
                     f"{esc(st.stage)}, outcome {esc(st.outcome or '-')}</p>")
        parts.append("<table><tr><th>deadline</th><th>period</th><th>from</th><th>due</th>"
                     "<th>status</th><th>why</th></tr>")
        for d in st.deadlines:
            why = "<br>".join(esc(sentence) for sentence in d.explanation)
            parts.append(f"<tr><td>{esc(d.name)}</td><td>{esc(d.period)}</td>"
                         f"<td>{esc(d.trigger_date)}</td><td>{esc(d.due)}</td>"
                         f"<td class='{esc(d.status)}'>{esc(d.status)}</td><td>{why}</td></tr>")
        parts.append("</table>")
        sf = st.sanction
        parts.append("<table><tr><th>fine</th><th>penalty per day</th><th>days of delay</th>"
                     "<th>penalty accrued</th><th>liquidated</th></tr><tr>"
                     f"<td>{esc(_money(sf.fine_eur, currency))}</td>"
                     f"<td>{esc(_money(sf.penalty_per_day_eur, currency))}</td>"
                     f"<td>{sf.penalty_days}</td>"
                     f"<td>{esc(_money(sf.penalty_eur, currency))}</td>"
                     f"<td>{esc(_money(sf.liquidated_eur, currency))}</td></tr></table>")
        parts.append("<details><summary>Timeline</summary><table><tr><th>date</th><th>kind"
                     "</th><th>what</th><th>detail</th></tr>")
        for t in st.timeline:
            parts.append(f"<tr><td>{esc(t.date[:16].replace('T', ' '))}</td>"
                         f"<td>{esc(t.kind)}</td><td>{esc(t.name)}</td>"
                         f"<td>{esc(t.detail)}</td></tr>")
        parts.append("</table></details>")
        if r.outcome.rejected:
            parts.append("<p class='missed'>Rejected events: " + "; ".join(
                esc(f"{x.date} {x.type}: {x.reason}") for x in r.outcome.rejected) + "</p>")
    batch = report.summary.get("batch")
    if batch:
        for variant, s2 in batch["by_variant"].items():
            shares = ", ".join(f"{k.replace('_', ' ')} {100 * v:.1f}%"
                               for k, v in s2["shares"].items())
            parts.append(f"<h2>Batch of {batch['runs']} runs (seed {batch['seed']}): "
                         f"{esc(variant)}</h2><p>Outcomes: {esc(shares)}; runs with refused "
                         f"events: {s2['runs_with_rejected_events']}</p>"
                         "<table><tr><th></th><th>min</th>"
                         + "".join(f"<th>p{p}</th>" for p in PERCENTILES) + "<th>max</th></tr>")
            for key, p in [*s2["dates"].items(), *s2["amounts"].items()]:
                values = [p["min"], *(p[f"p{q}"] for q in PERCENTILES), p["max"]]
                texts = ([_money(int(c), currency) for c in values]
                         if key in SANCTION_FIELDS and key != "penalty_days"
                         else [str(c) for c in values])
                parts.append(f"<tr><td>{esc(key)}</td>"
                             + "".join(f"<td>{esc(c)}</td>" for c in texts) + "</tr>")
            parts.append("</table>")
    return "\n".join(parts)


def written(paths: Iterable[Path]) -> str:
    return ", ".join(str(p) for p in paths)


# --- the workload forecast -------------------------------------------------------------------

FORECAST_FIELDS = ("week", "from", "to", "procedure", "stage", "kind", "mean", "p10", "p50",
                   "p90")


def write_forecast_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, FORECAST_FIELDS)
        w.writeheader()
        w.writerows(rows)


def write_forecast_plot(path: Path, f: Any) -> None:
    """One panel per kind: the median per week, the 10th-90th percentile band around it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from enforcement.simulation.forecast import KINDS

    rows = [r for r in f.rows() if r["procedure"] == "*"]
    fig, axes = plt.subplots(1, len(KINDS), figsize=(13, 3.4), sharex=True)
    for ax, kind in zip(axes, KINDS, strict=True):
        mine = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["week"])
        x = [r["week"] for r in mine]
        ax.fill_between(x, [r["p10"] for r in mine], [r["p90"] for r in mine],
                        color="#a2c8ec", step="mid", label="10th-90th percentile")
        ax.step(x, [r["p50"] for r in mine], where="mid", color="#1f4e79", label="median")
        ax.set_title(kind, fontsize=9)
        ax.set_xticks(x[::max(1, len(x) // 6)],
                      [mine[i]["from"][5:] for i in range(0, len(x), max(1, len(x) // 6))],
                      fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Workload forecast from {f.today.isoformat()}: {f.cases} open cases, "
                 f"{f.runs} runs each (assumptions: {f.assumptions})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
