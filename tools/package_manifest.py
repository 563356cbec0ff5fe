#!/usr/bin/env python3
"""Writes target/lambda/manifest.json after `make package` and prints the zip sizes.

Terraform (modules/sentinel, aws_lambda_function preconditions) reads the manifest to refuse a
deployment whose `architecture` differs from what was built, or whose zips are not the ones
built together:

  {"architecture": "x86_64", "target": "x86_64-unknown-linux-gnu",
   "functions": {"tvm": {"zip": "tvm/bootstrap.zip", "sha256": "<hex>", "bytes": 1234}, ...}}

Usage: tools/package_manifest.py --architecture x86_64 --target TRIPLE [--dir target/lambda] FUNCTION...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

ARCHITECTURES = {"x86_64": "x86_64-unknown-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", required=True, choices=sorted(ARCHITECTURES))
    parser.add_argument("--target", required=True)
    parser.add_argument("--dir", type=Path, default=Path("target/lambda"))
    parser.add_argument("functions", nargs="+")
    args = parser.parse_args()
    if ARCHITECTURES[args.architecture] != args.target:
        sys.exit(f"package_manifest: architecture {args.architecture} is built with target "
                 f"{ARCHITECTURES[args.architecture]}, not {args.target}")
    functions = {}
    for name in args.functions:
        path = args.dir / name / "bootstrap.zip"
        try:
            data = path.read_bytes()
        except OSError as exc:
            sys.exit(f"package_manifest: {path}: {exc.strerror}; did cargo-lambda build {name}?")
        functions[name] = {"zip": f"{name}/bootstrap.zip", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        print(f"{name:12} {path}  {len(data) / 1048576:5.1f} MiB")
    manifest = {"architecture": args.architecture, "target": args.target, "functions": functions}
    out = args.dir / "manifest.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(f"{'manifest':12} {out}  ({args.architecture})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
