# Osprey: `make run` installs what is missing, builds and runs the appliance on the embedded
# default; `make test` installs, builds and runs every check and test.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps check-toolchain build run test fmt clippy unit bench conformance-summary soak lab lab-samples clean

all: build

deps:
	@./deploy/install-deps.sh

check-toolchain:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install Rust 1.85 or newer (https://rustup.rs), then re-run"; exit 1; }

build: deps check-toolchain
	$(CARGO) build --release --bin osprey

run: build
	./target/release/osprey run $(ARGS)

fmt: check-toolchain
	$(CARGO) fmt --all --check

clippy: deps check-toolchain
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: deps check-toolchain
	$(CARGO) test --workspace

test: deps check-toolchain fmt clippy unit conformance-summary

# The suricata-verify pass counts (the floors are enforced by tests/conformance.rs).
SV_ENGINE = $(CURDIR)/target/debug/osprey replay -q --pcap {pcap} --rules {rules} --eve {eve} --flags {flags}
conformance-summary: unit
	@if [ -f ../shared/tools/sv_run.py ]; then \
	  python3 ../shared/tools/sv_run.py -j 2 --list ../shared/data/suricata-verify/subset.txt --engine '$(SV_ENGINE)' 2>/dev/null | tail -1 | \
	    awk '{printf "suricata-verify subset: %s of %d tests pass, %s skipped\n", $$1, $$1+$$3, $$5}'; \
	  python3 ../shared/tools/sv_run.py -j 2 --alert-only --list ../shared/data/suricata-verify/tier2.txt --engine '$(SV_ENGINE)' 2>/dev/null | tail -1 | \
	    awk '{printf "suricata-verify tier2 (alert checks): %s of %d tests pass, %s skipped\n", $$1, $$1+$$3, $$5}'; \
	  python3 ../shared/tools/sv_run.py -j 2 --list ../shared/data/suricata-verify/extended.txt --engine '$(SV_ENGINE)' 2>/dev/null | tail -1 | \
	    awk '{printf "suricata-verify extended: %s of %d tests pass, %s skipped\n", $$1, $$1+$$3, $$5}'; \
	fi

# Soak test (not part of `make test`): `osprey run` with ET Open on a looping capture for
# SOAK_SECONDS (default 3600) under a querying client; see tests/soak/README.md.
soak: build
	PYTHONDONTWRITEBYTECODE=1 python3 -m unittest -q tests/soak/test_soak.py
	python3 tests/soak/soak.py

# The labelled traffic lab (as root; see tests/lab/README.md): plays LAB_SECONDS of real
# servers, clients and attack tools in network namespaces with seed LAB_SEED and writes
# capture.pcap, labels.csv, hosts.csv and lab.json to LAB_OUT; LAB_ARGS adds runner options.
LAB_SEED ?= 1
LAB_SECONDS ?= 75
LAB_OUT ?= out/lab-$(LAB_SEED)
LAB_PYTHON = $(CURDIR)/.venv/bin/python
lab: deps
	nice -n 19 $(LAB_PYTHON) tests/lab/lab.py run --out $(LAB_OUT) --seed $(LAB_SEED) \
	  --duration $(LAB_SECONDS) $(LAB_ARGS)

# The committed captures (tests/lab/samples/): training and, with another seed and other
# parameters, evaluation.
LAB_TRAIN_ARGS = --think 1.5
LAB_EVAL_ARGS = --think 2 --ipv6-share 0.3 --scan-ports 60 --flood-rate 300 \
	  --slowloris-connections 40 --bruteforce-words 30 --beacon-interval 6 --beacon-jitter 0.3
lab-samples: deps
	$(MAKE) lab LAB_SEED=1 LAB_SECONDS=60 LAB_OUT=tests/lab/samples/train LAB_ARGS="$(LAB_TRAIN_ARGS)"
	$(MAKE) lab LAB_SEED=2 LAB_SECONDS=50 LAB_OUT=tests/lab/samples/eval LAB_ARGS="$(LAB_EVAL_ARGS)"

bench: deps check-toolchain
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
