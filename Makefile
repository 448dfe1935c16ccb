# Osprey: `make run` installs what is missing, builds and runs the appliance on the embedded
# default; `make test` installs, builds and runs every check and test.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps check-toolchain build run test fmt clippy unit bench conformance clean

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

test: deps check-toolchain fmt clippy unit

bench: deps check-toolchain
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
