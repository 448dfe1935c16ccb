# Osprey: `make run` installs what is missing, builds and runs the appliance on the embedded
# default; `make test` installs, builds and runs every check and test.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps check-toolchain build run test fmt clippy unit bench conformance-summary soak clean

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

bench: deps check-toolchain
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
