#!/usr/bin/env python3
"""The crate boundaries of docs/architecture.md, checked on cargo's own dependency graph.

Fails (exit 1) when any of these comes back, and says which dependency path brought it:
  1. core      an `aws-sdk-*` crate in the normal dependency tree of `sentinel-ledger` with its
               default features (the domain core builds without AWS; the DynamoDB adapter is
               behind a feature);
  2. release   `dynoxide-rs`, `proptest` or `sentinel-devstack` in the normal dependency tree
               of `sentinel-cli` with default features (the released `sentinel` binary links no
               emulator and no test crate; `sentinel dev` needs the `dev` feature);
  3. functions one function crate (a package under functions/) depending on another, as a
               normal, build or dev dependency, directly or through another crate.

Every check runs; the summary lists each with PASS or FAIL. Run by `make lint`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CARGO = os.environ.get("CARGO", "cargo")


def cargo(*args: str) -> str:
    proc = subprocess.run([CARGO, *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"check_boundaries: `cargo {' '.join(args)}` failed:\n{proc.stderr}")
    return proc.stdout


def tree(package: str, edges: str) -> set[str]:
    """Names of every package in `package`'s tree over `edges`, default features, all targets."""
    out = cargo("tree", "-p", package, "-e", edges, "--target", "all", "--prefix", "none",
                "--format", "{p}")
    return {line.split(" ")[0] for line in out.splitlines() if line.strip()}


def why(package: str, edges: str, culprit: str) -> str:
    """The inverted tree: how `culprit` gets into `package`'s tree (first lines only)."""
    out = cargo("tree", "-p", package, "-e", edges, "--target", "all", "-i", culprit)
    lines = out.splitlines()
    return "\n".join("      " + line for line in lines[:12]) + ("\n      …" if len(lines) > 12 else "")


def function_crates() -> list[str]:
    metadata = json.loads(cargo("metadata", "--no-deps", "--format-version", "1"))
    functions = REPO / "functions"
    return sorted(p["name"] for p in metadata["packages"] if functions in Path(p["manifest_path"]).parents)


def check_core() -> list[str]:
    found = sorted(name for name in tree("sentinel-ledger", "normal") if name.startswith("aws-sdk-"))
    return [f"sentinel-ledger (default features) depends on {name}:\n{why('sentinel-ledger', 'normal', name)}"
            for name in found]


def check_release() -> list[str]:
    banned = ["dynoxide-rs", "proptest", "sentinel-devstack"]
    found = tree("sentinel-cli", "normal")
    return [f"the default `sentinel` binary links {name}:\n{why('sentinel-cli', 'normal', name)}"
            for name in banned if name in found]


def check_functions(functions: list[str]) -> list[str]:
    failures = []
    for function in functions:
        edges = "normal,build,dev"
        for other in sorted(tree(function, edges) & set(functions) - {function}):
            failures.append(f"{function} depends on {other}:\n{why(function, edges, other)}")
    return failures


def main() -> int:
    functions = function_crates()
    if len(functions) < 2:
        sys.exit(f"check_boundaries: expected the function crates under functions/, found {functions}")
    checks = [
        ("core: no aws-sdk-* in sentinel-ledger's default build", check_core),
        ("release: no emulator or test crate in the default sentinel binary", check_release),
        (f"functions: no function crate depends on another ({', '.join(functions)})",
         lambda: check_functions(functions)),
    ]
    failed = 0
    for title, check in checks:
        failures = check()
        print(f"{'PASS' if not failures else 'FAIL'}  {title}")
        for failure in failures:
            print(f"  - {failure}")
        failed += bool(failures)
    print(f"boundaries: {failed} of {len(checks)} checks broken" if failed else f"boundaries: all {len(checks)} hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
