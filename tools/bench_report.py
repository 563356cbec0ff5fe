#!/usr/bin/env python3
"""Collect criterion medians and the harness benches' figures (target/bench/figures.json:
local stack, Lambda start, binary sizes) into one JSON report and a readable summary."""
import json
import pathlib
import sys


def main(criterion_dir: str, out_path: str) -> None:
    root = pathlib.Path(criterion_dir)
    report = {"unit": "ns", "benchmarks": {}}
    for estimates in sorted(root.glob("**/new/estimates.json")):
        bench_dir = estimates.parent.parent
        name = str(bench_dir.relative_to(root))
        data = json.loads(estimates.read_text())
        entry = {"median_ns": data["median"]["point_estimate"]}
        bench_file = estimates.parent / "benchmark.json"
        if bench_file.exists():
            throughput = json.loads(bench_file.read_text()).get("throughput")
            if throughput and "Elements" in throughput:
                per_second = throughput["Elements"] / (entry["median_ns"] / 1e9)
                entry["elements_per_second"] = round(per_second, 1)
        report["benchmarks"][name] = entry
    extra = pathlib.Path(out_path).parent / "figures.json"
    if extra.exists():
        report["figures"] = json.loads(extra.read_text())
    out = pathlib.Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'benchmark':60} {'median':>14}  throughput")
    for name, entry in report["benchmarks"].items():
        median = entry["median_ns"]
        shown = f"{median / 1000:.2f} µs" if median < 1e6 else f"{median / 1e6:.2f} ms"
        rate = f"{entry['elements_per_second']:.0f}/s" if "elements_per_second" in entry else ""
        print(f"{name:60} {shown:>14}  {rate}")
    for section, figures in report.get("figures", {}).items():
        print(f"\n{section}:")
        for path, value in flatten(figures):
            print(f"  {path:70} {value}")
    print(f"report: {out}")


def flatten(value, prefix=""):
    """Yields (dotted path, leaf) pairs of nested figures, for the readable summary."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
