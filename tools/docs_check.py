#!/usr/bin/env python3
"""Docs that stay true: README.md and docs/ against the code's own registries.

Each registry is read from the Rust source that defines it (regular expressions over the text,
so a refactor that moves a list only needs its extractor adapted here):

  routes          functions/tvm/src/routes.rs        route("GET", "/path", ...) / method: "GET", path: "/path"
  events          ledger/src/event.rs                catalogue! { Name => version, ... }
  error codes     functions/tvm/src/error.rs         API codes ("POLICY_DENY"), cli/src/failure.rs CLI codes
  commands        cli/src/args.rs                    clap subcommand enums (variants -> kebab-case)
  configuration   every .rs file                     SENTINEL_* names

The check fails when the docs name one the code lacks (a route, an event type, an error code
after its HTTP status or as "Code", a `sentinel …` command, a SENTINEL_* name), or when the code
has one that no doc names. It also fails on a link that does not resolve (relative links, with
#anchors checked against the target's headings), on any link out of the repository, and on
TODO, TBD, FIXME or XXX.

Usage: tools/docs_check.py [--repo DIR] [--self-test]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"target", ".git", ".venv", ".venv-checkov", ".venv-package", ".sentinel-dev", "node_modules", ".terraform"}
METHODS = "GET|POST|PUT|DELETE|PATCH"

# Routes that docs may name although the TVM does not serve them, each with its reason.
EXTERNAL_ROUTES = {
    "GET /federation/credentials": "IAM Identity Center portal's GetRoleCredentials (the CLI's SSO sign-in)",
}
# The migration guide names what the Go Sentinel (v1.14-v2.1) had, to say what replaced it. Only
# docs/migration.md may name these; anywhere else they are drift like any other.
LEGACY = {
    "docs/migration.md": {
        "INVALID_IDENTITY", "DEVICE_VERIFICATION_FAILED", "METHOD_NOT_ALLOWED", "CONFIG_ERROR", "SSM_ERROR",
        "NOT_IMPLEMENTED", "SENTINEL_APPROVAL_TABLE", "SENTINEL_BREAKGLASS_TABLE", "SENTINEL_ENFORCE_POLICY_SIGNING",
        "SENTINEL_MDM_PROVIDER", "SENTINEL_POLICY_PARAMETER", "SENTINEL_POLICY_SIGNING_KEY",
        "SENTINEL_RATE_LIMIT_TABLE", "SENTINEL_REQUIRE_DEVICE", "SENTINEL_SESSION_TABLE",
        "sentinel check", "sentinel list", "sentinel approve", "sentinel deny",
    },
}
# What docs/contract.md lists under "Not yet built" by name. When the code gains one, the check
# fails until the contract says it is built and the name leaves this list.
NOT_YET_BUILT = {
    "docs/contract.md": {"LockPlaced", "LockLifted"},
}
# CamelCase words ending like an event that are not ledger events (AWS names, mostly).
NOT_EVENTS = {
    "AccessDenied": "STS/IAM error code",
    "ConditionalCheckFailed": "DynamoDB cancellation reason",
    "FailedInvocations": "EventBridge metric",
    "SentinelProtected": "the protected roles' name prefix",
    "StreamEnabled": "DynamoDB DescribeTable field",
    "PointInTimeRecoveryEnabled": "DynamoDB DescribeContinuousBackups field",
    "LimitExceeded": "IAM error code (LimitExceeded)",
}
EVENT_SUFFIXES = ("Requested", "Decided", "Issued", "Refreshed", "Revoked", "Expired", "Granted", "Denied",
                  "Cancelled", "Invoked", "Closed", "Published", "Recorded", "Reserved", "Placed", "Lifted",
                  "Approved", "Rejected", "Created", "Deleted", "Updated", "Extended", "Started", "Stopped")
# Global flags of `sentinel` that take a value (skipped when reading `sentinel … COMMAND` in docs).
VALUE_FLAGS = {"--output", "--region", "--aws-profile", "--remote-server"}


@dataclass
class Registries:
    routes: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    api_codes: set[str] = field(default_factory=set)
    cli_codes: set[str] = field(default_factory=set)
    commands: dict[str, set[str]] = field(default_factory=dict)  # command -> subcommands (empty: none)
    config: set[str] = field(default_factory=set)


def rust_files(repo: Path, under: str = "") -> list[Path]:
    base = repo / under if under else repo
    return sorted(p for p in base.rglob("*.rs") if not SKIP_DIRS & set(p.relative_to(repo).parts))


def read(repo: Path, rel: str) -> str:
    path = repo / rel
    if not path.exists():
        raise SystemExit(f"docs_check: {rel} is missing; adapt its extractor in {Path(__file__).name}")
    return path.read_text(encoding="utf-8")


def normalise_route(method: str, path: str) -> str:
    path = path.split("?")[0].rstrip(".,;:)`'\"")
    path = re.sub(r"\{[^}]*\}", "{}", path)
    if len(path) > 1:
        path = path.rstrip("/")
    return f"{method} {path}"


def extract_routes(repo: Path) -> set[str]:
    routes = set()
    for path in rust_files(repo, "functions/tvm/src"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(rf'"({METHODS})"\s*,\s*(?:path\s*:\s*)?"(/[^"]*)"', text):
            routes.add(normalise_route(m.group(1), m.group(2)))
        for m in re.finditer(rf'method\s*:\s*"({METHODS})"\s*,\s*path\s*:\s*"(/[^"]*)"', text):
            routes.add(normalise_route(m.group(1), m.group(2)))
    if not routes:
        raise SystemExit("docs_check: no routes found under functions/tvm/src; adapt extract_routes")
    return routes


def extract_events(repo: Path) -> set[str]:
    text = read(repo, "ledger/src/event.rs")
    m = re.search(r"catalogue!\s*\{(.*?)\n\}", text, re.S)
    if not m:
        raise SystemExit("docs_check: no catalogue! { … } in ledger/src/event.rs; adapt extract_events")
    return set(re.findall(r"\b([A-Z]\w+)\s*=>", m.group(1)))


def extract_codes(repo: Path, rel: str) -> set[str]:
    text = read(repo, rel)
    text = re.sub(r"#\[cfg\(test\)\].*", "", text, flags=re.S)  # not the unit tests' strings
    return {c for c in re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)"', text) if len(c) >= 4}


def extract_local_failures(repo: Path) -> set[str]:
    """Codes of the CLI's own failures, `LocalFailure::new("CODE", …)` anywhere in cli/src."""
    codes = set()
    for path in rust_files(repo, "cli/src"):
        codes.update(re.findall(r'LocalFailure::new\(\s*"([A-Z][A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    return codes


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def extract_commands(repo: Path) -> dict[str, set[str]]:
    text = read(repo, "cli/src/args.rs")
    enums: dict[str, list[tuple[str, str | None]]] = {}
    for m in re.finditer(r"pub enum (\w+) \{\n(.*?)\n\}", text, re.S):
        variants = []
        body = m.group(2)
        for v in re.finditer(r"^    ((?:#\[[^\n]*\]\n    |///[^\n]*\n    )*)([A-Z]\w*)(\((\w+)\))?", body, re.M):
            attrs = v.group(1)
            named = re.search(r'#\[command\([^\]]*\bname\s*=\s*"([^"]+)"', attrs)
            variants.append((named.group(1) if named else kebab(v.group(2)), v.group(4)))
        enums[m.group(1)] = variants
    if "Command" not in enums:
        raise SystemExit("docs_check: no `pub enum Command` in cli/src/args.rs; adapt extract_commands")
    commands: dict[str, set[str]] = {}
    for name, inner in enums["Command"]:
        subs = {sub for sub, _ in enums.get(inner, [])} if inner and inner.endswith("Command") else set()
        commands[name] = subs
    return commands


def extract_config(repo: Path) -> set[str]:
    names = set()
    for path in rust_files(repo):
        names.update(re.findall(r"\bSENTINEL_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    return names


def registries(repo: Path) -> Registries:
    return Registries(
        routes=extract_routes(repo),
        events=extract_events(repo),
        api_codes=extract_codes(repo, "functions/tvm/src/error.rs"),
        cli_codes=extract_codes(repo, "cli/src/failure.rs") | extract_local_failures(repo),
        commands=extract_commands(repo),
        config=extract_config(repo),
    )


# --------------------------------------------------------------------------------------------
# The docs
# --------------------------------------------------------------------------------------------

def doc_files(repo: Path) -> list[Path]:
    files = [repo / "README.md"] + sorted((repo / "docs").rglob("*.md"))
    return [f for f in files if f.exists()]


def link_files(repo: Path) -> list[Path]:
    return sorted(p for p in repo.rglob("*.md") if not SKIP_DIRS & set(p.relative_to(repo).parts))


def code_spans(text: str) -> list[str]:
    """Inline code and fenced code blocks."""
    spans = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    spans += re.findall(r"`([^`\n]+)`", prose)
    return spans


def doc_commands(text: str) -> list[list[str]]:
    """`sentinel …` invocations in code: the words after `sentinel`, global flags skipped."""
    found = []
    for span in code_spans(text):
        for m in re.finditer(r"(?:^|[\s$(|;&`])sentinel((?:[ \t]+[^\s|;&)`#]+)+)", span, re.M):
            words = m.group(1).split()
            out, i = [], 0
            while i < len(words) and len(out) < 2:
                w = words[i]
                if w.startswith("-"):
                    i += 2 if w in VALUE_FLAGS else 1
                    continue
                if not re.fullmatch(r"[a-z][a-z-]*", w):
                    break
                out.append(w)
                i += 1
            if out:
                found.append(out)
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"`|\*|_(?=\w)|(?<=\w)_|\[|\]\([^)]*\)", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        seen[s] = n + 1
    return out


def check_links(repo: Path, problems: list[str]) -> int:
    count = 0
    for path in link_files(repo):
        text = path.read_text(encoding="utf-8")
        prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
        prose = re.sub(r"`[^`\n]*`", "", prose)
        rel = path.relative_to(repo)
        for m in re.finditer(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<(https?://[^>]+)>", prose):
            target = m.group(1) or m.group(2)
            count += 1
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                problems.append(f"{rel}: link out of the repository: {target}")
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists() or not dest.is_relative_to(repo.resolve()):
                problems.append(f"{rel}: broken link {target}")
                continue
            if anchor and dest.suffix == ".md" and anchor not in anchors_of(dest):
                problems.append(f"{rel}: link {target}: no heading #{anchor} in {dest.relative_to(repo.resolve())}")
    return count


def check_markers(repo: Path, problems: list[str]) -> None:
    for path in link_files(repo):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for marker in re.findall(r"\b(TODO|TBD|FIXME|XXX)\b", line):
                problems.append(f"{path.relative_to(repo)}:{n}: {marker} left in the docs")


def check(repo: Path) -> tuple[list[str], dict[str, int]]:
    reg = registries(repo)
    problems: list[str] = []
    texts = {path.relative_to(repo): path.read_text(encoding="utf-8") for path in doc_files(repo)}
    everything = "\n".join(texts.values())

    def legacy(rel: Path, name: str) -> bool:
        return name in LEGACY.get(rel.as_posix(), set()) | NOT_YET_BUILT.get(rel.as_posix(), set())

    code_names = reg.routes | reg.events | reg.api_codes | reg.cli_codes | reg.config
    for rel, names in NOT_YET_BUILT.items():
        for name in sorted(names & code_names):
            problems.append(f"{rel} lists {name} as not yet built, but the code has it: update the doc and NOT_YET_BUILT")

    # Routes: a doc may fill a parameter in (`PUT /policies/prod` names `PUT /policies/{profile}`).
    external = {normalise_route(*r.split(" ", 1)) for r in EXTERNAL_ROUTES}

    def served(route: str) -> str | None:
        method, path = route.split(" ", 1)
        for known in sorted(reg.routes | external):
            kmethod, kpath = known.split(" ", 1)
            kparts, parts = kpath.split("/"), path.split("/")
            if kmethod == method and len(kparts) == len(parts) and all(
                k == p or k == "{}" for k, p in zip(kparts, parts)
            ):
                return known
        return None

    named_routes = set()
    for rel, text in texts.items():
        for m in re.finditer(rf"\b({METHODS}) (/[A-Za-z0-9_{{}}./-]*)", text):
            route = normalise_route(m.group(1), m.group(2))
            known = served(route)
            if known is None:
                problems.append(f"{rel}: names route {route.replace('{}', '{…}')}, which the TVM does not serve")
            else:
                named_routes.add(known)
    for route in sorted(reg.routes - named_routes):
        problems.append(f"route {route.replace('{}', '{…}')} is served but no doc names it")

    # Events.
    named_events = set()
    for rel, text in texts.items():
        for word in set(re.findall(r"\b([A-Z][a-z]+(?:[A-Z][a-z]+)+)\b", text)):
            if (word.endswith(EVENT_SUFFIXES) or word.endswith("ed")) and word not in NOT_EVENTS:
                named_events.add(word)
                if word not in reg.events and not legacy(rel, word):
                    problems.append(f"{rel}: names event {word}, which is not in the catalogue (ledger/src/event.rs)")
    for event in sorted(reg.events - named_events):
        problems.append(f"event {event} is in the catalogue but no doc names it")

    # Error codes: after an HTTP status ("403 `POLICY_DENY`") or as "Code": "X".
    known_codes = reg.api_codes | reg.cli_codes
    for rel, text in texts.items():
        for m in re.finditer(r"\b[45]\d\d\s+`([A-Z][A-Z0-9_]{3,})`|\"Code\"\s*:\s*\"([A-Z][A-Z0-9_]{3,})\"", text):
            code = m.group(1) or m.group(2)
            if code not in known_codes and not legacy(rel, code):
                problems.append(f"{rel}: names error code {code}, which neither the API nor the CLI returns")
    for code in sorted(known_codes):
        if not re.search(rf"\b{code}\b", everything):
            problems.append(f"error code {code} is returned but no doc names it")

    # CLI commands.
    named_commands = set()
    for rel, text in texts.items():
        for words in doc_commands(text):
            command = words[0]
            if legacy(rel, f"sentinel {command}"):
                continue
            if command not in reg.commands:
                problems.append(f"{rel}: `sentinel {' '.join(words)}`: no command {command!r}")
                continue
            named_commands.add(command)
            subs = reg.commands[command]
            if subs and len(words) > 1:
                if words[1] not in subs:
                    problems.append(f"{rel}: `sentinel {' '.join(words)}`: {command} has no subcommand {words[1]!r}")
                else:
                    named_commands.add(f"{command} {words[1]}")
    for command, subs in sorted(reg.commands.items()):
        for name in [command] + [f"{command} {s}" for s in sorted(subs)]:
            if name not in named_commands:
                problems.append(f"command `sentinel {name}` exists but no doc shows it")

    # Configuration names.
    named_config = set(re.findall(r"\bSENTINEL_[A-Z0-9_]*[A-Z0-9]\b", everything))
    for rel, text in texts.items():
        for name in sorted(set(re.findall(r"\bSENTINEL_[A-Z0-9_]*[A-Z0-9]\b", text)) - reg.config):
            if legacy(rel, name):
                continue
            problems.append(f"{rel}: names {name}, which the code never reads or writes")
    for name in sorted(reg.config - named_config):
        problems.append(f"{name} is used by the code but no doc names it")

    links = check_links(repo, problems)
    check_markers(repo, problems)
    counts = {"routes": len(reg.routes), "events": len(reg.events), "error codes": len(known_codes),
              "commands": len(reg.commands) + sum(len(s) for s in reg.commands.values()),
              "configuration names": len(reg.config), "links": links}
    return problems, counts


# --------------------------------------------------------------------------------------------
# Self-test: each kind of drift, planted in a copy, must be caught
# --------------------------------------------------------------------------------------------

PLANTED = [
    ("docs/README.md", "\nAlso see `GET /nonexistent/{id}`.\n", "names route GET /nonexistent/{…}"),
    ("docs/README.md", "\nThe ledger records `SessionTeleported` events.\n", "names event SessionTeleported"),
    ("docs/README.md", "\nThe API answers 403 `NOT_A_REAL_CODE`.\n", "names error code NOT_A_REAL_CODE"),
    ("docs/README.md", "\nRun `sentinel teleport now`.\n", "no command 'teleport'"),
    ("docs/README.md", "\nSet SENTINEL_NOT_A_SETTING=1.\n", "names SENTINEL_NOT_A_SETTING"),
    ("docs/README.md", "\nSee [the design](../../shared/DESIGN.md).\n", "broken link ../../shared/DESIGN.md"),
    ("docs/README.md", "\nSee [AWS](https://aws.amazon.com/).\n", "link out of the repository"),
    ("docs/README.md", "\nSee [costs](costs.md#no-such-heading).\n", "no heading #no-such-heading"),
    ("docs/README.md", "\nTBD: the rest.\n", "TBD left in the docs"),
    ("cli/src/args.rs", "\n/// planted\npub const PLANTED: &str = \"SENTINEL_PLANTED_SETTING\";\n",
     "SENTINEL_PLANTED_SETTING is used by the code but no doc names it"),
]


def self_test() -> int:
    failures = []
    with tempfile.TemporaryDirectory(prefix="sentinel-docs-selftest-") as tmp:
        base = Path(tmp) / "repo"
        for rel in ["README.md", "docs", "cli/src", "functions/tvm/src", "ledger/src", "terraform", "examples"]:
            src = REPO / rel
            if src.is_dir():
                shutil.copytree(src, base / rel, ignore=shutil.ignore_patterns(*SKIP_DIRS))
            elif src.exists():
                (base / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, base / rel)
        for path in rust_files(REPO):
            dest = base / path.relative_to(REPO)
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
        clean, _ = check(base)
        if clean:
            failures.append(f"the unplanted copy fails: {clean[0]}")
        for rel, addition, phrase in PLANTED:
            target = base / rel
            before = target.read_text(encoding="utf-8")
            target.write_text(before + addition, encoding="utf-8")
            problems, _ = check(base)
            target.write_text(before, encoding="utf-8")
            caught = any(phrase in p for p in problems)
            print(f"self-test: {phrase}: {'caught' if caught else 'MISSED'}")
            if not caught:
                failures.append(f"{rel} + {addition.strip()!r} was not caught (wanted {phrase!r}, got {problems[:3]})")
    if failures:
        print("\ndocs self-test FAILED:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"docs self-test passed: {len(PLANTED)} planted drifts caught, the clean copy passes")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    problems, counts = check(args.repo.resolve())
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    if problems:
        print(f"docs check FAILED ({len(problems)} problems; the code has {summary}):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"docs check passed: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
