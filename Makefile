# Sentinel Ledger — every set-up step lives here, so a fresh clone needs only `make dev` / `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PYTHON ?= python3
CARGO  ?= cargo
# Two cores: keep the test harness from starting more emulator-heavy tests than the machine has.
TEST_THREADS ?= 4

.PHONY: help venv checkov-venv build dev dev-reset test test-rust test-terraform test-docs schema-refresh bench bench-build bench-micro bench-stack bench-scale release-functions fuzz package package-venv fmt lint clean

help:
	@echo "make dev        run the whole local stack in the foreground (Ctrl-C stops it)"
	@echo "make dev-reset  delete the local stack's data (.sentinel-dev/)"
	@echo "make test       run every test (unit, property, emulator integration)"
	@echo "make bench      run the benchmarks (bench-micro, bench-stack, bench-scale); report in target/bench/report.json"
	@echo "make bench-micro / bench-stack / bench-scale   one part (each reuses the one release build)"
	@echo "make fuzz       property tests at scale (100,000 cases each)"
	@echo "make package    Lambda zips in target/lambda/<function>/bootstrap.zip"
	@echo "make lint       rustfmt check, clippy (warnings denied) and the crate boundaries"

# Python tools (moto's emulators, the Terraform and docs checks) in a project-local virtualenv,
# pinned by tools/requirements-dev.lock. Every Python pin and script lives in tools/.
TOOLS := tools
venv: $(VENV)/.installed
$(VENV)/.installed: $(TOOLS)/requirements-dev.txt $(TOOLS)/requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(TOOLS)/requirements-dev.txt -c $(TOOLS)/requirements-dev.lock
	touch $@

# checkov pins its own boto3, so it lives in a virtualenv of its own.
checkov-venv: .venv-checkov/.installed
.venv-checkov/.installed: $(TOOLS)/requirements-checkov.txt $(TOOLS)/requirements-checkov.lock
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --disable-pip-version-check -r $(TOOLS)/requirements-checkov.txt -c $(TOOLS)/requirements-checkov.lock
	touch $@

build:
	$(CARGO) build --locked --workspace --all-targets

# `sentinel dev` exists only with the cli's `dev` feature: the released binary links no emulator.
dev: venv
	$(CARGO) run --locked --quiet -p sentinel-cli --features dev --bin sentinel -- dev

dev-reset:
	@if [ -f .sentinel-dev/dev.pid ] && [ -d /proc/$$(cat .sentinel-dev/dev.pid) ]; then \
	  echo "the local stack is running (pid $$(cat .sentinel-dev/dev.pid)); stop it first"; exit 1; fi
	rm -rf .sentinel-dev
	@echo "local stack data deleted"

test: test-rust test-terraform test-docs

test-rust: venv
	$(CARGO) test --locked --no-fail-fast --workspace --lib --bins --tests -- --test-threads=$(TEST_THREADS)

# HCL parse, references, drift against terraform/contract.json, the provider schema (the
# committed extract of `make schema-refresh`), the IAM policy lint (parliament), fmt (when
# terraform is on PATH) and checkov; then the self-test that plants faults and requires the
# schema and IAM checks to catch them. `terraform validate`/`plan` need the AWS provider binary,
# which cannot be fetched.
test-terraform: venv checkov-venv
	$(VENV)/bin/python $(TOOLS)/terraform_checks.py
	$(VENV)/bin/python $(TOOLS)/terraform_checks.py --self-test

# The hashicorp/aws provider schema for the offline Terraform check: npm downloads the
# @cdktf/provider-aws bindings (one per provider major versions.tf allows) into a temporary
# directory, and tools/schema/aws-provider.json keeps what terraform/ uses plus the tarballs'
# integrity hashes. `make test` only reads that file; run this after adding a resource type or
# changing the provider range.
schema-refresh: venv
	$(VENV)/bin/python $(TOOLS)/tf_schema.py refresh

# docs/ and README.md against the code's own registries (routes, events, error codes, CLI
# commands, SENTINEL_* names), links inside the repository, no leftover markers; then the
# self-test that plants each kind of drift and requires the check to catch it.
test-docs:
	$(PYTHON) $(TOOLS)/docs_check.py
	$(PYTHON) $(TOOLS)/docs_check.py --self-test

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
	$(PYTHON) $(TOOLS)/bench_report.py target/criterion target/bench/report.json

# Lambda zips for the five functions, as Terraform expects them (terraform/contract.json
# lambda.package_path): target/lambda/<function>/bootstrap.zip, linked by zig against the glibc
# of the Lambda runtime (cargo-lambda's default for the -linux-gnu targets), plus
# target/lambda/manifest.json (architecture and each zip's SHA-256) that Terraform checks
# `architecture` against. LAMBDA_ARCH=arm64 builds for Graviton (needs the
# aarch64-unknown-linux-gnu Rust target). A second release build (target/<triple>/), so it is
# not part of `make test`.
LAMBDA_ARCH ?= x86_64
LAMBDA_TARGET_x86_64 := x86_64-unknown-linux-gnu
LAMBDA_TARGET_arm64  := aarch64-unknown-linux-gnu
LAMBDA_TARGET = $(or $(LAMBDA_TARGET_$(LAMBDA_ARCH)),$(error LAMBDA_ARCH must be x86_64 or arm64, not $(LAMBDA_ARCH)))
PACKAGE_VENV := .venv-package
package-venv: $(PACKAGE_VENV)/.installed
$(PACKAGE_VENV)/.installed: $(TOOLS)/requirements-package.txt $(TOOLS)/requirements-package.lock
	$(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(TOOLS)/requirements-package.txt -c $(TOOLS)/requirements-package.lock
	touch $@

package: package-venv
	rm -f target/lambda/manifest.json
	PATH="$(CURDIR)/$(PACKAGE_VENV)/bin:$$PATH" $(PACKAGE_VENV)/bin/cargo-lambda lambda build \
	  --release --locked --target $(LAMBDA_TARGET) --output-format zip $(addprefix -p sentinel-,$(FUNCTIONS))
	$(PYTHON) $(TOOLS)/package_manifest.py --architecture $(LAMBDA_ARCH) --target $(LAMBDA_TARGET) $(FUNCTIONS)

# Property tests at scale: every fuzz_* test with 100,000 cases each (SENTINEL_FUZZ_CASES),
# release build; a failing case is shrunk and printed. `make test` runs 256 cases each.
FUZZ_CASES ?= 100000
fuzz: venv
	SENTINEL_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release --locked -p sentinel-system-tests -p sentinel-devstack --test it fuzz:: -- --test-threads=2 --nocapture

fmt:
	$(CARGO) fmt --all

# rustfmt, clippy on every target (the cli's tests build it with `dev`), clippy on the default
# builds that features change (the released `sentinel`, projections without its DynamoDB
# adapter), then the crate boundaries (tools/check_boundaries.py says what each check is).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked -p sentinel-cli --lib --bins -- -D warnings
	$(CARGO) clippy --locked -p sentinel-projections --lib -- -D warnings
	$(PYTHON) tools/check_boundaries.py
	$(PYTHON) tools/check_command_path.py
	$(PYTHON) tools/check_command_path.py --self-test

clean:
	$(CARGO) clean
	rm -rf $(VENV) .venv-checkov $(PACKAGE_VENV)
