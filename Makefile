# Every target bootstraps .venv from the pinned requirements on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make run` installs what the engine needs (requirements.lock); `make test` adds the test,
# lint and type-check tools (requirements-dev.lock).
RUNTIME := $(VENV)/.runtime
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench install clean mutation chromium

$(RUNTIME): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null \
	  || $(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements-dev.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	@touch $(STAMP)

install: $(STAMP)

# The console's browser tests drive Debian's Chromium (Playwright's own browser download is
# not used): installed from the distribution's packages when it is missing.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 \
	  || { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }
	@test -x $(CHROMIUM) || { echo "error: $(CHROMIUM) is missing and could not be installed" >&2; exit 1; }

run: $(RUNTIME)
	$(BIN)/python -m enforcement.ops.run

test: $(STAMP) chromium lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy enforcement workflows activities worker.py benchmarks

bench: $(RUNTIME)
	$(BIN)/python benchmarks/timelimits.py

# Mutation testing of the pure code (time-limit core, case machine) with the pure tests;
# configured in pyproject.toml [tool.mutmut]. Slow (see README), not run in CI.
MUTATION_CHILDREN ?= 2
# Examples per hypothesis property in tests/law/test_timelimits_properties.py (300 in make test).
MUTATION_EXAMPLES ?= 50

mutation: $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-mutation.lock
	@mkdir -p mutants && date +%s > mutants/started
	ENFORCE_PROPERTY_EXAMPLES=$(MUTATION_EXAMPLES) $(BIN)/mutmut run --max-children $(MUTATION_CHILDREN)
	@$(BIN)/python -c "$$MUTATION_SCORE"

# The score per mutated file from mutmut's records (mutants/*.py.meta), then each survivor.
define MUTATION_SCORE
import collections, json, pathlib, time
from mutmut.stats import status_by_exit_code as status
print()
print("Mutation score (killed / total; a mutant whose tests time out counts as killed):")
left = []
for f in sorted(pathlib.Path("mutants/enforcement").glob("*.py.meta")):
    codes = json.loads(f.read_text())["exit_code_by_key"]
    count = collections.Counter(status[c] for c in codes.values())
    k = count["killed"] + count["timeout"]
    extra = ", ".join(f"{v} {s}" for s, v in sorted(count.items()) if s != "killed")
    print(f"  enforcement/{f.name[:-5]}: {k} / {len(codes)} ({100 * k / max(len(codes), 1):.1f}%)"
          + (f"; {extra}" if extra else ""))
    left += [(n, status[c]) for n, c in sorted(codes.items()) if status[c] not in ("killed", "timeout")]
print(f"Not killed ({len(left)}; mutmut show <name> prints the change):")
for name, s in left:
    print(f"  {name}: {s}")
started = pathlib.Path("mutants/started")
if started.exists():
    print(f"Run time: {int(time.time()) - int(started.read_text())} s")
endef
export MUTATION_SCORE

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache mutants
