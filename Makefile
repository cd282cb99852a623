# Thin front for CMake and the tests. Every target installs what it needs when missing.
SHELL := /bin/bash
NODES ?= 3
VERSION ?= 1.0.0
PRODUCT ?= drp
PY_VERSIONS ?= 3.6 3.13
BUILD := build
CMAKE_STAMP := $(BUILD)/cmake/CMakeCache.txt

.PHONY: all build dist packages test lint unit bats integration lab-up lab-install lab-down \
        lab-status bench soak fanout chaos prereqs demo install-test wheelhouse docs

all: build

prereqs:
	@tests/prereqs.sh

$(CMAKE_STAMP):
	@cmake -S . -B $(BUILD)/cmake >/dev/null

build: prereqs $(CMAKE_STAMP)
	@cmake --build $(BUILD)/cmake

dist: build
	@cmake --build $(BUILD)/cmake --target dist

packages: prereqs $(CMAKE_STAMP)
	@cmake --build $(BUILD)/cmake --target packages

lint: prereqs
	@tests/lint.sh

# The step table of docs/upgrade.md, written from the step declarations (scripts/steps/); the unit
# test tests/unit/test_steps.py fails while the two differ.
docs:
	@mkdir -p $(BUILD)
	@PYTHONPATH=lib/python python3 -m drupgrade upgrade steps --markdown > $(BUILD)/steps-table.md
	@awk -v table=$(BUILD)/steps-table.md \
	  '/^<!-- generated from scripts\/steps\//{while ((getline l < table) > 0) print l; skip=1; next} \
	   skip && /^<!-- end of generated table -->$$/{skip=0; next} !skip' docs/upgrade.md > docs/upgrade.md.tmp
	@mv docs/upgrade.md.tmp docs/upgrade.md

bats: prereqs
	@bats tests/bats

wheelhouse: build
	@cmake --build $(BUILD)/cmake --target wheelhouse

# The unit tests on 3.6 and the newest Python (venvs from the wheelhouse); the system Python's
# run is `python3 -m pytest tests/unit` (the lab suites run the controller on it). The generator's
# tests read the real packages (build/packages).
unit: build wheelhouse packages
	@tests/pyversions.sh $(PY_VERSIONS)

install-test: dist
	@DRUPGRADE_REQUIRE_DIST=1 python3 -m pytest tests/install -q

# The lab suite on one lab, or with WORKERS=2 on two labs side by side (pytest-xdist, whole modules
# per worker; the first worker uses the default lab, the others labs of their own:
# tests/integration/conftest.py hands out the longest modules first; docs/testing.md).
WORKERS ?= 2
integration: build packages lab-up
	@python3 -m pytest tests/integration -q --durations=20 $(if $(filter-out 1,$(WORKERS)),-n $(WORKERS) --dist loadfile --no-loadscope-reorder)

test: lint bats unit install-test integration

lab-up: prereqs
	@tests/lab/lab.sh up --nodes $(NODES)

lab-install: packages
	@tests/lab/install.sh --product $(PRODUCT) $(if $(MIXED),--mixed $(MIXED)) $(VERSION)

lab-down:
	@tests/lab/lab.sh down
	@for d in build/lab-drlw*; do [ ! -d "$$d" ] || LAB_DIR="$$d" tests/lab/lab.sh down; done

lab-status:
	@tests/lab/lab.sh status

# The main job on the built-in lab: a fresh drp 1.0.0 cluster upgraded to 2.2.0, its status, its
# backups and the one command that rolls it back.
demo: build packages lab-up
	@tests/lab/install.sh 1.0.0
	@rm -rf build/lab/state  # a fresh product install: a fresh controller history too
	@bin/upgrade.sh --config build/lab/upgrade.ini plan --to 2.2.0
	@bin/upgrade.sh --config build/lab/upgrade.ini run --to 2.2.0
	@bin/upgrade.sh --config build/lab/upgrade.ini status
	@bin/rollback_tool --config build/lab/upgrade.ini list
	@echo "Roll the lab back to drp 1.0.0 (exactly the state before the upgrade) with:"
	@echo "    bin/rollback_tool --config build/lab/upgrade.ini auto latest"
	@echo "The lab is still up (ssh -F build/lab/ssh_config node1). Tear it down with: make lab-down"

# Benchmarks write their sections of docs/benchmarks.md (with the command that produced them).
bench: build packages
	@bench/lab_up.sh
	@bench/orchestration.sh
	@bench/rollback.sh
	@bench/availability.py
	@python3 bench/transfer/bench.py

# The chaos campaign (docs/reliability.md, bench/chaos.py): N randomized trials of a full upgrade on the
# lab, each with faults at random moments; SEED=S repeats a campaign, FIRST=I continues it at trial
# I. The trial table of docs/reliability.md is rewritten from docs/reliability-trials.jsonl; exit 1
# when a trial ended anywhere but at the target (as a clean run) or exactly at the source, or left
# something of the tool on a node.
N ?= 10
chaos: build packages lab-up
	@python3 bench/chaos.py --trials $(N) $(if $(SEED),--seed $(SEED)) $(if $(FIRST),--first $(FIRST)) --report docs/reliability.md

# Issue 19's soak: CYCLES upgrade -> one-click rollback cycles on the lab, checked each cycle for
# drift, retention, memory, open files and state growth; writes the "Soak" section (bench/soak.py).
CYCLES ?= 20
soak: build packages
	@python3 bench/soak.py --cycles $(CYCLES)

# Issue 19's fan-out: the whole upgrade on 1, 3, 10 and 20 systemd lab nodes, per phase; writes the
# "Fan-out" section (bench/fanout.py; FANOUT_ARGS e.g. --max-parallel 20,4).
fanout: build packages
	@python3 bench/fanout.py $(FANOUT_ARGS)
