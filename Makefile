# Sentinel Ledger — every set-up step lives here, so a fresh clone needs only `make dev` / `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PYTHON ?= python3
CARGO  ?= cargo
# Two cores: keep the test harness from starting more emulator-heavy tests than the machine has.
TEST_THREADS ?= 4

.PHONY: help venv checkov-venv build dev dev-reset test test-rust test-terraform bench bench-build bench-micro bench-stack bench-scale release-functions fuzz package package-venv fmt lint clean

help:
	@echo "make dev        run the whole local stack in the foreground (Ctrl-C stops it)"
	@echo "make dev-reset  delete the local stack's data (.sentinel-dev/)"
	@echo "make test       run every test (unit, property, emulator integration)"
	@echo "make bench      run the benchmarks (bench-micro, bench-stack, bench-scale); report in target/bench/report.json"
	@echo "make bench-micro / bench-stack / bench-scale   one part (each reuses the one release build)"
	@echo "make fuzz       property tests at scale (100,000 cases each)"
	@echo "make package    Lambda zips in target/lambda/<function>/bootstrap.zip"
	@echo "make lint       rustfmt check and clippy"

# Python tools (moto's emulators) in a project-local virtualenv, pinned by requirements-dev.lock.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c requirements-dev.lock
	touch $@

# checkov pins its own boto3, so it lives in a virtualenv of its own.
checkov-venv: .venv-checkov/.installed
.venv-checkov/.installed: requirements-checkov.txt requirements-checkov.lock
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c requirements-checkov.lock
	touch $@

build:
	$(CARGO) build --locked --workspace --all-targets

dev: venv
	$(CARGO) run --locked --quiet -p sentinel-cli --bin sentinel -- dev

dev-reset:
	@if [ -f .sentinel-dev/dev.pid ] && [ -d /proc/$$(cat .sentinel-dev/dev.pid) ]; then \
	  echo "the local stack is running (pid $$(cat .sentinel-dev/dev.pid)); stop it first"; exit 1; fi
	rm -rf .sentinel-dev
	@echo "local stack data deleted"

test: test-rust test-terraform

test-rust: venv
	$(CARGO) test --locked --no-fail-fast --workspace --lib --bins --tests -- --test-threads=$(TEST_THREADS)

# HCL parse, references, drift against terraform/contract.json, fmt (when terraform is on
# PATH) and checkov. `terraform validate`/`plan` need the AWS provider, which cannot be fetched.
test-terraform: venv checkov-venv
	$(VENV)/bin/python scripts/terraform_checks.py

# The five Lambda binaries, built once in release: the Lambda-start bench runs them.
FUNCTIONS := tvm authorizer projector exporter enforcer

# Benchmarks, in three parts that share ONE release build (bench-build): every cargo command
# below selects the whole workspace and the bench profile, so features resolve identically and
# nothing is rebuilt or relinked between parts (`--bench '*'`, not `--benches`, which would also
# build every library as a bench harness). `make bench` runs build and parts in turn and
# records how long each took (target/bench/parts.tsv, folded into the report).
#   bench-micro  criterion micro-benchmarks (ledger, policy, fold, TVM handler)
#   bench-stack  the local stack end to end (vend floor, authorizer, projection and export lag,
#                revoke trials; cli/benches/stack.rs) and Lambda start (the release binaries)
#   bench-scale  history-size figures (enforcer cost per revocation with BENCH_REVOCATIONS
#                old revocations, default 100,000)
BENCH_PARTS := bench-micro bench-stack bench-scale
BENCH_REVOCATIONS ?= 100000

bench-build:
	$(CARGO) build --profile bench --locked --workspace --bins --bench '*'
	mkdir -p target/bench/functions
	cp $(addprefix target/release/,$(FUNCTIONS)) target/bench/functions/

# The five release binaries alone (in target/bench/functions/): those of bench-build.
release-functions: bench-build

bench-micro: bench-build
	$(CARGO) bench --locked --workspace --bench ledger --bench policy --bench fold --bench handler

bench-stack: venv bench-build
	$(CARGO) bench --locked --workspace --bench stack --bench lambda_start

bench-scale: bench-build
	BENCH_REVOCATIONS=$(BENCH_REVOCATIONS) $(CARGO) bench --locked --workspace --bench revocations

bench: venv
	@mkdir -p target/bench && rm -f target/bench/parts.tsv
	@for part in bench-build $(BENCH_PARTS); do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$part || exit $$?; \
	  printf '%s\t%s\n' $$part $$(( $$(date +%s) - start )) >> target/bench/parts.tsv; \
	done
	$(PYTHON) scripts/bench_report.py target/criterion target/bench/report.json

# Lambda zips for the five functions, as Terraform expects them (terraform/contract.json
# lambda.package_path): target/lambda/<function>/bootstrap.zip, x86_64, linked by zig against
# the glibc of the Lambda runtime (cargo-lambda's default for x86_64-unknown-linux-gnu). A second
# release build (target/x86_64-unknown-linux-gnu/), so it is not part of `make test`.
PACKAGE_VENV := .venv-package
package-venv: $(PACKAGE_VENV)/.installed
$(PACKAGE_VENV)/.installed: requirements-package.txt
	$(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-package.txt
	touch $@

package: package-venv
	PATH="$(CURDIR)/$(PACKAGE_VENV)/bin:$$PATH" $(PACKAGE_VENV)/bin/cargo-lambda lambda build \
	  --release --locked --target x86_64-unknown-linux-gnu --output-format zip $(addprefix -p sentinel-,$(FUNCTIONS))
	@$(PYTHON) -c 'import os, sys; paths = {f: os.path.join("target/lambda", f, "bootstrap.zip") for f in sys.argv[1:]}; [print(f"{f:12} {p}  {os.path.getsize(p) / 1048576:5.1f} MiB") for f, p in paths.items()]' $(FUNCTIONS)

# Property tests at scale: every fuzz_* test with 100,000 cases each (SENTINEL_FUZZ_CASES),
# release build; a failing case is shrunk and printed. `make test` runs 256 cases each.
FUZZ_CASES ?= 100000
fuzz: venv
	SENTINEL_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release --locked -p sentinel-tvm -p sentinel-devstack --test it fuzz:: -- --test-threads=2 --nocapture

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(VENV) .venv-checkov $(PACKAGE_VENV)
