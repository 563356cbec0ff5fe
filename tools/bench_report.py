#!/usr/bin/env python3
"""Collect criterion medians, the harness benches' figures (target/bench/figures.json: local
stack, Lambda start, enforcer at scale) and the time each `make bench` part took
(target/bench/parts.tsv) into one JSON report and a readable summary, with the goals the
figures are held to."""
import json
import pathlib
import sys

# (label, dotted path in the figures, comparison, goal): checked when the figure is present.
GOALS = [
    ("export lag p99 at 50 vends/s (ms)", "stack.export.sustained.commit_to_consumer.p99_ms", "<=", 1000),
    ("burst drained to the bus consumer (events/s)", "stack.export.burst.drained_events_per_second", ">=", 500),
    ("floor ratio at the gateway", "stack.vend.floor_ratio_gateway_median", "<=", 1.10),
    ("revoke: first call not denied", "stack.revoke_then_first_call.first_call_not_denied", "<=", 0),
    ("enforcer p50 with/without old revocations", "enforcer.p50_ratio_with_to_without", "<=", 1.5),
]


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
    out = pathlib.Path(out_path)
    extra = out.parent / "figures.json"
    if extra.exists():
        report["figures"] = json.loads(extra.read_text())
    parts = out.parent / "parts.tsv"
    if parts.exists():
        report["parts_seconds"] = {
            name: int(seconds) for name, seconds in (line.split("\t") for line in parts.read_text().splitlines() if line)
        }
    report["goals"] = goals(report.get("figures", {}))
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
    if report["goals"]:
        print("\ngoals:")
        for goal in report["goals"]:
            verdict = "met" if goal["met"] else "NOT MET"
            print(f"  {goal['figure']:55} {goal['value']!s:>10} {goal['comparison']} {goal['goal']!s:<8} {verdict}")
    if "parts_seconds" in report:
        print("\nmake bench parts (seconds):")
        for name, seconds in report["parts_seconds"].items():
            print(f"  {name:20} {seconds:>6}")
        print(f"  {'total':20} {sum(report['parts_seconds'].values()):>6}")
    print(f"report: {out}")


def goals(figures):
    """Each goal whose figure was measured, with its value and whether it is met."""
    checked = []
    for label, path, comparison, goal in GOALS:
        value = figures
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, (int, float)):
            continue
        met = value <= goal if comparison == "<=" else value >= goal
        checked.append({"figure": label, "path": path, "value": value, "comparison": comparison, "goal": goal, "met": met})
    return checked


def flatten(value, prefix=""):
    """Yields (dotted path, leaf) pairs of nested figures, for the readable summary."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
