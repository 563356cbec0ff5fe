#!/usr/bin/env python3
"""Fails if product code appends to the ledger outside the one command path.

Every write goes through `ledger::command` (read -> decide -> commit, bounded retries); only
that module and the store adapters themselves (ledger/src/store/) may build a `StreamAppend`
or call `append_all` / `EventStore::write`. Test code (`#[cfg(test)]` modules, tests/, benches/,
the projections testkit) may seed ledgers directly.

Usage: check_command_path.py [--self-test]
"""
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALLOWED = ("ledger/src/command.rs", "ledger/src/store/")
TEST_ONLY = ("projections/src/testkit.rs",)
FORBIDDEN = [
    (re.compile(r"\bStreamAppend\s*\{"), "builds a StreamAppend"),
    (re.compile(r"\.append_all\s*\("), "calls append_all"),
    (re.compile(r"\.append\s*\(\s*StreamAppend"), "calls append"),
    (re.compile(r"\bEventStore::write\s*\(|\.write\s*\(\s*&(items|sealed|stored)\b"), "calls EventStore::write"),
]


def product_lines(path: pathlib.Path):
    """The lines of a source file before its first `#[cfg(test)]` module."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if line.strip() == "#[cfg(test)]":
            following = lines[number] if number < len(lines) else ""
            if following.lstrip().startswith(("mod ", "pub mod ", "pub(crate) mod ")):
                return
        yield number, line


def violations(root: pathlib.Path):
    for path in sorted(root.glob("**/src/**/*.rs")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("target/", ".")) or "/target/" in rel:
            continue
        if rel.startswith(ALLOWED) or rel in TEST_ONLY:
            continue
        for number, line in product_lines(path):
            code = line.split("//", 1)[0]
            for pattern, what in FORBIDDEN:
                if pattern.search(code):
                    yield f"{rel}:{number}: {what} outside ledger::command: {line.strip()}"


def self_test() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "functions/x/src").mkdir(parents=True)
        (root / "ledger/src").mkdir(parents=True)
        (root / "ledger/src/command.rs").write_text("fn f() { store.append_all(&a, &c); }\n")
        planted = root / "functions/x/src/lib.rs"
        planted.write_text(
            "fn ok() {}\n#[cfg(test)]\nmod tests {\n    fn seed() { store.append_all(&a, &c); }\n}\n"
        )
        if list(violations(root)):
            print("self-test: test code and the command module were flagged", file=sys.stderr)
            return 1
        planted.write_text("fn sneaky() { let a = StreamAppend { stream, head, events }; }\n")
        found = list(violations(root))
        if len(found) != 1:
            print(f"self-test: a planted append was not caught: {found}", file=sys.stderr)
            return 1
    print("command-path self-test passed: a planted append is caught, test code is not")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    found = list(violations(ROOT))
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"{len(found)} ledger write(s) outside the command path", file=sys.stderr)
        return 1
    print("command path: every ledger write goes through ledger::command")
    return 0


if __name__ == "__main__":
    sys.exit(main())
