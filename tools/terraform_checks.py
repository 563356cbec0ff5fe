#!/usr/bin/env python3
"""Static checks for terraform/ that need neither AWS nor the AWS provider.

`terraform validate` and `plan` cannot run in this project's CI (the provider cannot be
downloaded), so this script is what keeps the Terraform honest:

  1. syntax   every .tf (and .tftest.hcl) parses with python-hcl2; a parse error names the file;
  2. refs     within each module, every var./local./module./data./resource reference is declared,
              every module call passes only declared inputs and all required ones, and every
              module.X.Y output exists; declared variables and locals are used;
  3. contract terraform/contract.json matches the HCL: routes and their authorization, environment
              variable names and defaults, table keys and indexes, bus name and routed detail-types,
              protected-role naming, authorizer settings;
              the TVM's session tag keys, the log line the enforcer's metric filter matches;
  4. schema   every resource, data and provider block against the hashicorp/aws schema of each
              provider major that versions.tf allows (tools/tf_schema.py, reading the committed
              extract tools/schema/aws-provider.json): argument and block names, required ones,
              nesting;
  5. iam      every policy document, `aws_iam_policy_document` blocks rendered to JSON by our own
              renderer, linted by parliament (tools/iam_lint.py): actions, resource types, and
              condition keys that do not apply to an action;
  6. fmt      `terraform fmt -check -recursive` when a terraform binary is on PATH (else skipped);
  7. checkov  no failed check; every suppression is an inline `#checkov:skip=CKV_...:reason`.

--self-test plants faults in a copy of terraform/ (an unknown argument, a missing required
argument, a repeated single block, sts:TagSession conditioned on sts:SourceIdentity) and fails
unless the schema and IAM checks catch each one and pass the unplanted copy.

Usage: tools/terraform_checks.py [--skip-checkov] [--terraform-dir DIR] | --self-test
Needs python-hcl2 in the running interpreter. checkov pins boto3 and cannot share the moto
virtualenv, so it is looked up as $CHECKOV, then .venv-checkov/bin/checkov, then on PATH.
Exit status 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

try:
    import hcl2  # python-hcl2
except ImportError:  # pragma: no cover - environment problem, reported clearly
    sys.exit("terraform_checks: python-hcl2 is not installed in this interpreter "
             "(pip install python-hcl2==8.1.4)")

# Names that look like references but are Terraform built-ins or block-scoped iterators.
BUILTIN_ROOTS = {"each", "count", "path", "self", "terraform"}
REF_RE = re.compile(
    r"(?<![\w.\]\)])"  # not the middle of a longer traversal (x.var.y) or an attribute of a call
    r"(var|local|module|data)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?"
    r"|(?<![\w.\]\)])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"
)
SKIP_RE = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def rel(path: Path) -> str:
    """A path relative to the repository when it is inside it (for messages)."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, section: str, message: str) -> None:
        self.items.append(f"[{section}] {message}")


# --------------------------------------------------------------------------------------------
# python-hcl2 (8.x) returns literal strings with their quotes ("\"x\"") and expressions as
# "${...}". These helpers turn values back into Python data and pull the code out of templates.
# --------------------------------------------------------------------------------------------

def unquote(value):
    """A literal HCL string as Python str; anything else unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        if "${" in inner:
            return value  # a template, not a literal
        return inner.replace('\\"', '"').replace("\\\\", "\\")
    return value


def literal(value):
    """Recursively unquote a parsed value (lists and objects of literals)."""
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): literal(v) for k, v in value.items() if not k.startswith("__")}
    return unquote(value)


def code_of(text: str) -> str:
    """The expression code in a parsed value, with literal string text blanked out.

    A value is either a quoted template ("...${expr}...") or an expression (${...}); inside
    expressions, string literals may hold further interpolations. Only code can hold references.
    """
    out: list[str] = []
    i, n = 0, len(text)
    # stack of contexts: "code" (inside ${...} or a bare expression) or "str"
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
        n = len(text)
        stack = ["code"]
    elif text.startswith('"'):
        stack = ["str"]
        i = 1
    else:
        stack = ["code"]
    depth: list[int] = [0]  # brace depth per code context
    while i < n:
        c = text[i]
        ctx = stack[-1]
        if ctx == "str":
            if c == "\\":
                i += 2
                continue
            if text.startswith("${", i):
                stack.append("code")
                depth.append(0)
                out.append(" ")
                i += 2
                continue
            if c == '"':
                stack.pop()
                out.append(" ")
            i += 1
            continue
        # code
        if c == '"':
            stack.append("str")
            out.append(" ")
        elif c == "{":
            depth[-1] += 1
            out.append(c)
        elif c == "}":
            if depth[-1] == 0 and len(stack) > 1:
                stack.pop()
                depth.pop()
                out.append(" ")
            else:
                depth[-1] -= 1
                out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def walk_values(node, skip_keys=("__comments__",)):
    """Every string value (and mapping key that is an expression) in a parsed structure."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in skip_keys or k == "__is_block__":
                continue
            if isinstance(k, str) and k.startswith("${"):
                yield k
            yield from walk_values(v, skip_keys)
    elif isinstance(node, list):
        for v in node:
            yield from walk_values(v, skip_keys)
    elif isinstance(node, str):
        yield node


def comments_of(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "__comments__":
                for c in v:
                    yield c.get("value", "")
            else:
                yield from comments_of(v)
    elif isinstance(node, list):
        for v in node:
            yield from comments_of(v)


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------

@dataclass
class Module:
    path: Path
    files: dict[Path, dict] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, object] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    modules: dict[str, dict] = field(default_factory=dict)
    data: set[tuple[str, str]] = field(default_factory=set)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)

    def blocks(self, kind):
        for parsed in self.files.values():
            for entry in parsed.get(kind, []):
                yield entry

    def resource(self, rtype, name):
        return self.resources.get((rtype, name))


def parse_all(tf_dir: Path, fails: Failures) -> dict[Path, Module]:
    modules: dict[Path, Module] = {}
    files = sorted(p for p in tf_dir.rglob("*") if p.suffix == ".tf" or p.name.endswith(".tftest.hcl"))
    files = [p for p in files if ".terraform" not in p.parts]
    if not files:
        fails.add("syntax", f"no .tf files under {tf_dir}")
    for path in files:
        try:
            with path.open(encoding="utf-8") as fh:
                parsed = hcl2.load(fh)
        except Exception as exc:  # lark raises several types; all mean "does not parse"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            fails.add("syntax", f"{rel(path)}: does not parse: {first}")
            continue
        if path.suffix != ".tf":
            continue  # test files: syntax only
        mod = modules.setdefault(path.parent, Module(path.parent))
        mod.files[path] = parsed
    for mod in modules.values():
        index_module(mod, fails)
    return modules


def index_module(mod: Module, fails: Failures) -> None:
    def declare(kind, name, where, seen):
        if name in seen:
            fails.add("refs", f"{where}: {kind} {name!r} declared twice")
        seen.add(name)

    seen_vars: set = set()
    seen_locals: set = set()
    for path, parsed in mod.files.items():
        where = rel(path)
        for entry in parsed.get("variable", []):
            for name, body in entry.items():
                declare("variable", unquote(name), where, seen_vars)
                mod.variables[unquote(name)] = body
        for entry in parsed.get("locals", []):
            for name, value in entry.items():
                if name.startswith("__"):
                    continue
                declare("local", name, where, seen_locals)
                mod.locals[name] = value
        for entry in parsed.get("output", []):
            for name in entry:
                mod.outputs.add(unquote(name))
        for entry in parsed.get("module", []):
            for name, body in entry.items():
                mod.modules[unquote(name)] = body
        for entry in parsed.get("data", []):
            for rtype, named in entry.items():
                for name in named:
                    mod.data.add((unquote(rtype), unquote(name)))
        for entry in parsed.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    mod.resources[(unquote(rtype), unquote(name))] = body


def check_references(modules: dict[Path, Module], fails: Failures) -> None:
    for mod in modules.values():
        where = rel(mod.path)
        used_vars: set[str] = set()
        used_locals: set[str] = set()
        resource_types = {t for t, _ in mod.resources}
        for parsed in mod.files.values():
            for value in walk_values(parsed):
                if "${" not in value and not value.startswith("["):
                    continue
                code = code_of(value)
                for m in REF_RE.finditer(code):
                    kind, name, attr, rtype, rname = m.groups()
                    if kind == "var":
                        used_vars.add(name)
                        if name not in mod.variables:
                            fails.add("refs", f"{where}: var.{name} is not declared")
                    elif kind == "local":
                        used_locals.add(name)
                        if name not in mod.locals:
                            fails.add("refs", f"{where}: local.{name} is not declared")
                    elif kind == "module":
                        if name not in mod.modules:
                            fails.add("refs", f"{where}: module.{name} is not declared")
                        elif attr:
                            child = child_module(mod, name, modules)
                            if child is not None and attr not in child.outputs:
                                fails.add("refs", f"{where}: module.{name}.{attr}: {rel(child.path)} has no output {attr!r}")
                    elif kind == "data":
                        if attr is None or (name, attr) not in mod.data:
                            fails.add("refs", f"{where}: data.{name}.{attr} is not declared")
                    elif rtype and rtype.split("_")[0] in {"aws", "null", "random", "time", "tls", "archive"}:
                        if (rtype, rname) not in mod.resources:
                            hint = "" if rtype in resource_types else " (no resource of that type here)"
                            fails.add("refs", f"{where}: {rtype}.{rname} is not declared{hint}")
        for name in sorted(set(mod.variables) - used_vars):
            fails.add("refs", f"{where}: variable {name!r} is declared but never used")
        for name in sorted(set(mod.locals) - used_locals):
            fails.add("refs", f"{where}: local {name!r} is declared but never used")
        check_module_calls(mod, modules, fails)


def child_module(mod: Module, name: str, modules: dict[Path, Module]) -> Module | None:
    source = unquote(mod.modules[name].get("source", ""))
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None  # registry or remote source: not ours to check
    return modules.get((mod.path / source).resolve())


def check_module_calls(mod: Module, modules: dict[Path, Module], fails: Failures) -> None:
    where = rel(mod.path)
    meta = {"source", "version", "providers", "count", "for_each", "depends_on", "__is_block__", "__comments__"}
    for name, body in mod.modules.items():
        source = unquote(body.get("source", ""))
        if not isinstance(source, str) or not source.startswith(("./", "../")):
            continue
        child = modules.get((mod.path / source).resolve())
        if child is None:
            fails.add("refs", f"{where}: module {name!r}: source {source!r} has no .tf files")
            continue
        passed = {k for k in body if k not in meta}
        for arg in sorted(passed - set(child.variables)):
            fails.add("refs", f"{where}: module {name!r} passes {arg!r}, which {rel(child.path)} does not declare")
        required = {v for v, spec in child.variables.items() if "default" not in spec}
        for arg in sorted(required - passed):
            fails.add("refs", f"{where}: module {name!r} does not pass required variable {arg!r}")


# --------------------------------------------------------------------------------------------
# Contract
# --------------------------------------------------------------------------------------------

def check_contract(modules: dict[Path, Module], tf_dir: Path, fails: Failures) -> None:
    contract_path = tf_dir / "contract.json"
    try:
        contract = json.loads(contract_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fails.add("contract", f"{rel(contract_path)}: {exc}")
        return
    sentinel = modules.get((tf_dir / "modules" / "sentinel").resolve())
    ledger = modules.get((tf_dir / "modules" / "ledger").resolve())
    protected = modules.get((tf_dir / "modules" / "protected-role").resolve())
    for name, mod in (("sentinel", sentinel), ("ledger", ledger), ("protected-role", protected)):
        if mod is None:
            fails.add("contract", f"terraform/modules/{name} is missing")
    if not (sentinel and ledger and protected):
        return

    def expect(what, got, want):
        if got != want:
            fails.add("contract", f"{what}: terraform has {got!r}, contract.json has {want!r}")

    # Routes and their authorization.
    routes: dict[str, str] = {}
    for (rtype, rname), body in sentinel.resources.items():
        if rtype != "aws_apigatewayv2_route":
            continue
        auth = unquote(body.get("authorization_type", '"NONE"'))
        key = body.get("route_key", "")
        if key == "${each.key}" or key == "${each.value}":
            m = re.fullmatch(r"\$\{toset\(local\.(\w+)\)\}|\$\{local\.(\w+)\}", body.get("for_each", ""))
            source = m and (m.group(1) or m.group(2))
            keys = literal(sentinel.locals.get(source)) if source else None
            if not isinstance(keys, list):
                fails.add("contract", f"aws_apigatewayv2_route.{rname}: for_each must be a local list of route keys")
                continue
        else:
            keys = [unquote(key)]
        for k in keys:
            if k in routes:
                fails.add("contract", f"route {k!r} is defined twice")
            routes[k] = auth
    want_routes = contract["routes"]
    for k in sorted(set(want_routes) - set(routes)):
        fails.add("contract", f"route {k!r} is in contract.json but not in terraform")
    for k in sorted(set(routes) - set(want_routes)):
        fails.add("contract", f"route {k!r} is in terraform but not in contract.json")
    for k in sorted(set(routes) & set(want_routes)):
        expect(f"authorization of {k!r}", routes[k], want_routes[k])

    # Authorizer.
    authorizers = [b for (t, _), b in sentinel.resources.items() if t == "aws_apigatewayv2_authorizer"]
    if len(authorizers) != 1:
        fails.add("contract", f"expected one aws_apigatewayv2_authorizer, found {len(authorizers)}")
    else:
        a, want = authorizers[0], contract["authorizer"]
        expect("authorizer identity_sources", literal(a.get("identity_sources")), [want["identity_source"]])
        expect("authorizer result TTL", a.get("authorizer_result_ttl_in_seconds"), want["result_ttl_seconds"])
        expect("authorizer simple responses", a.get("enable_simple_responses"), want["simple_responses"])
        expect("authorizer payload version", unquote(a.get("authorizer_payload_format_version")), want["payload_format_version"])

    # Environment: names from the module's environment local, defaults from the variables.
    env_code = sentinel.locals.get("environment", "")
    env_names = set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", env_code if isinstance(env_code, str) else ""))
    expect("environment variable names", sorted(env_names), sorted(contract["environment"]))
    defaults = {
        "SENTINEL_LEDGER_TABLE": literal(ledger.variables.get("ledger_table_name", {}).get("default")),
        "SENTINEL_VIEWS_TABLE": literal(ledger.variables.get("views_table_name", {}).get("default")),
        "SENTINEL_IDEMPOTENCY_TABLE": literal(ledger.variables.get("idempotency_table_name", {}).get("default")),
        "SENTINEL_EVENT_BUS": literal(sentinel.variables.get("event_bus_name", {}).get("default")),
        "SENTINEL_POLICY_ROOT": literal(sentinel.variables.get("policy_root", {}).get("default")),
        "SENTINEL_ADMINS_PARAMETER": literal(sentinel.variables.get("admins_parameter", {}).get("default")),
        "SENTINEL_PAGINATION_KEY_PARAMETER": literal(sentinel.variables.get("pagination_key_parameter", {}).get("default")),
        "SENTINEL_IDENTITY_ROLES": "" if literal(sentinel.variables.get("identity_role_arns", {}).get("default")) == [] else "?",
        "RUST_LOG": literal(sentinel.variables.get("rust_log", {}).get("default")),
        "SENTINEL_RATE_LIMIT_REQUESTS": str(literal(sentinel.variables.get("rate_limit_requests", {}).get("default"))),
        "SENTINEL_RATE_LIMIT_WINDOW": str(literal(sentinel.variables.get("rate_limit_window_seconds", {}).get("default"))),
    }
    for name, got in defaults.items():
        if name in contract["environment"]:
            expect(f"default of {name}", got, contract["environment"][name].get("default"))
    expect("ledger table default name", defaults["SENTINEL_LEDGER_TABLE"], contract["tables"]["ledger"]["default_name"])
    expect("views table default name", defaults["SENTINEL_VIEWS_TABLE"], contract["tables"]["views"]["default_name"])
    expect("idempotency table default name", defaults["SENTINEL_IDEMPOTENCY_TABLE"],
           contract["tables"]["idempotency"]["default_name"])
    keys = ledger.resource("aws_dynamodb_table", "idempotency")
    if keys is None:
        fails.add("contract", "aws_dynamodb_table.idempotency is missing from modules/ledger")
    else:
        want = contract["tables"]["idempotency"]
        attrs = {literal(a)["name"]: literal(a)["type"] for a in keys.get("attribute", [])}
        name = unquote(keys.get("hash_key"))
        expect("idempotency hash_key", {"name": name, "type": attrs.get(name)}, want["hash_key"])
        ttl = [literal(t) for t in keys.get("ttl", [])]
        expect("idempotency TTL", [(t.get("attribute_name"), t.get("enabled")) for t in ttl],
               [(want["ttl_attribute"], True)])
    expect("event bus default name", defaults["SENTINEL_EVENT_BUS"], contract["event_bus"]["default_name"])

    # Lambda runtime and handler.
    fn = sentinel.resource("aws_lambda_function", "this")
    if fn is None:
        fails.add("contract", "aws_lambda_function.this is missing from modules/sentinel")
    else:
        expect("lambda runtime", unquote(fn.get("runtime")), contract["lambda"]["runtime"])
        expect("lambda handler", unquote(fn.get("handler")), contract["lambda"]["handler"])
    functions = re.findall(r'"(\w+)"', sentinel.locals.get("functions", ""))
    expect("functions", functions, contract["lambda"]["functions"])
    consumers = re.findall(r'"(\w+)"', sentinel.locals.get("stream_consumers", ""))
    expect("stream consumers", consumers, contract["lambda"]["stream_consumers"])

    # Table keys and indexes.
    for table in ("ledger", "views"):
        body = ledger.resource("aws_dynamodb_table", table)
        want = contract["tables"][table]
        if body is None:
            fails.add("contract", f"aws_dynamodb_table.{table} is missing from modules/ledger")
            continue
        attrs = {literal(a)["name"]: literal(a)["type"] for a in body.get("attribute", [])}
        for role in ("hash_key", "range_key"):
            name = unquote(body.get(role))
            expect(f"{table} {role}", {"name": name, "type": attrs.get(name)}, want[role])
        if table == "ledger":
            expect("ledger stream view type", unquote(body.get("stream_view_type")), want["stream_view_type"])
            if "ttl" in body:
                fails.add("contract", "the ledger table must not have a TTL")
    got_indexes = [
        {"name": i["name"], "hash_key": {"name": i["hash_key"], "type": "S"},
         "range_key": {"name": i["range_key"], "type": "S"} if i.get("range_key") else None}
        for i in literal(ledger.variables.get("views_indexes", {}).get("default", []))
    ]
    want_indexes = [dict(i, range_key=i.get("range_key")) for i in contract["tables"]["views"]["indexes"]]
    expect("views indexes", got_indexes, want_indexes)

    # Bus: source and the detail-types routed to targets.
    expect("event source", unquote(sentinel.locals.get("event_source")), contract["event_bus"]["source"])
    routed = set()
    for (rtype, _), body in sentinel.resources.items():
        if rtype == "aws_cloudwatch_event_rule":
            routed.update(re.findall(r'"detail-type"\s*=\s*\[\s*"(\w+)"\s*\]', body.get("event_pattern", "")))
    routed.update(literal(sentinel.variables.get("notification_detail_types", {}).get("default", [])))
    expect("routed detail-types", sorted(routed), sorted(contract["event_bus"]["routed_detail_types"]))

    # Protected roles and the enforcer's policy name.
    want_iam = contract["iam"]
    role = protected.resource("aws_iam_role", "this") or {}
    expect("protected role name", unquote(role.get("name")), '"' + want_iam["protected_role_name_prefix"] + "${var.name}" + '"')
    expect("protected role max session", role.get("max_session_duration"), want_iam["max_session_duration_seconds"])
    all_text = json.dumps([list(m.files.values()) for m in (sentinel, protected)])
    if f'"{want_iam["source_identity_prefix"]}*' not in all_text.replace('\\"', '"'):
        fails.add("contract", f"no sts:SourceIdentity condition {want_iam['source_identity_prefix']}* found")
    expect("enforcer inline policy name", unquote(sentinel.locals.get("enforcer_policy_name")), want_iam["enforcer_inline_policy_name"])
    for mod in (sentinel, protected):
        expect(f"{rel(mod.path)} session_tag_keys", literal(mod.locals.get("session_tag_keys")), want_iam["session_tag_keys"])

    # The enforcer's "not enforced" log line: the metric filter matches what the code logs.
    want_log = contract["logs"]["enforcer_not_enforced"]
    metric_filter = sentinel.resource("aws_cloudwatch_log_metric_filter", "revocation_not_enforced") or {}
    pattern = unquote(metric_filter.get("pattern", "")) or ""
    want_pattern = '{ $.level = "' + want_log["level"] + '" && $.fields.retryable IS ' + str(want_log["retryable"]).upper() + " }"
    expect("revocation_not_enforced metric filter pattern", pattern, want_pattern)
    source_dir = REPO / "functions" / want_log["function"] / "src"
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(source_dir.rglob("*.rs"))) if source_dir.is_dir() else ""
    line = re.search(r"tracing::error!\((?:[^;]*?)retryable = (true|false)(?:[^;]*?)\"([^\"]+)\"\s*\)", source, re.S)
    if not line or line.group(2) != want_log["message"] or line.group(1) != str(want_log["retryable"]).lower():
        fails.add("contract", f"functions/{want_log['function']}/src no longer logs tracing::error!(…, retryable = "
                              f"{str(want_log['retryable']).lower()}, {want_log['message']!r}): update the metric filter and contract.json")
    if "flatten_event(true)" in source:
        fails.add("contract", f"functions/{want_log['function']} flattens its JSON log events; the metric filter reads $.fields.*")


# --------------------------------------------------------------------------------------------
# External tools
# --------------------------------------------------------------------------------------------

def run_fmt(tf_dir: Path, fails: Failures) -> str:
    terraform = shutil.which("terraform")
    if terraform is None:
        return "skipped (no terraform binary on PATH)"
    proc = subprocess.run([terraform, "fmt", "-check", "-recursive", "-no-color"], cwd=tf_dir,
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        errors = [ln.strip("│ ").strip() for ln in proc.stderr.splitlines() if "Error" in ln]
        files = proc.stdout.split() or errors or [proc.stderr.strip()[-300:]]
        fails.add("fmt", "terraform fmt -check failed (run `terraform fmt -recursive terraform/`): " + ", ".join(files))
        return "failed"
    return "ok"


def find_checkov() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(REPO / ".venv-checkov" / "bin" / "checkov"),
                  str(Path(sys.executable).parent / "checkov"), shutil.which("checkov")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    return None


def check_suppressions(modules: dict[Path, Module], fails: Failures) -> int:
    """Every checkov suppression is an inline skip with a check id and a justification."""
    count = 0
    for mod in modules.values():
        for path, parsed in mod.files.items():
            for comment in comments_of(parsed):
                if "checkov" not in comment:
                    continue
                m = SKIP_RE.search(comment)
                if not m or not m.group(1).startswith("CKV") or not (m.group(2) or "").strip():
                    fails.add("checkov", f"{rel(path)}: suppression without check id or justification: {comment.strip()!r}")
                count += 1
    for cfg in list(REPO.glob(".checkov.y*ml")) + list((REPO / "terraform").glob(".checkov.y*ml")):
        fails.add("checkov", f"{rel(cfg)}: suppressions must be inline, not in a config file")
    return count


def run_checkov(tf_dir: Path, fails: Failures) -> str:
    checkov = find_checkov()
    if checkov is None:
        fails.add("checkov", "checkov not found: install checkov==3.3.30 into .venv-checkov "
                             "(python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov==3.3.30) "
                             "or set CHECKOV=/path/to/checkov")
        return "missing"
    cmd = [checkov, "--directory", str(tf_dir), "--framework", "terraform", "--compact", "--quiet",
           "--skip-download", "--output", "json"]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        fails.add("checkov", f"checkov produced no report (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        return "error"
    reports = report if isinstance(report, list) else [report]
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
    for r in reports:
        for k in summary:
            summary[k] += r.get("summary", {}).get(k, 0)
        for c in r.get("results", {}).get("failed_checks", []):
            fails.add("checkov", f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c['check_name']}")
        for e in r.get("results", {}).get("parsing_errors", []):
            fails.add("checkov", f"parsing error: {e}")
    if summary["parsing_errors"]:
        fails.add("checkov", f"{summary['parsing_errors']} file(s) checkov could not parse")
    return f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped inline"


def check_schema(tf_dir: Path, fails: Failures) -> str:
    import tf_schema

    problems = tf_schema.check(tf_dir, tf_schema.SCHEMA_FILE)
    for p in problems:
        fails.add("schema", p)
    extract = json.loads(tf_schema.SCHEMA_FILE.read_text(encoding="utf-8")) if tf_schema.SCHEMA_FILE.exists() else {}
    versions = ", ".join(f"aws {p['provider_version']}" for _, p in sorted(extract.get("packages", {}).items()))
    return f"checked against {versions or 'no extract'}" if not problems else f"{len(problems)} problems"


def check_iam(tf_dir: Path, fails: Failures) -> str:
    import iam_lint

    docs_dir = REPO / "docs" if tf_dir == (REPO / "terraform").resolve() else None
    documents = list(iam_lint.terraform_documents(tf_dir)) + list(iam_lint.json_documents(tf_dir, docs_dir))
    count, problems = iam_lint.lint(documents)
    for p in problems:
        fails.add("iam", p)
    return f"{count} policy documents linted by parliament"


# Each planted fault: (file under terraform/, text to replace, replacement, the check that must
# catch it, a phrase its message must contain).
PLANTED = [
    ("modules/protected-role/main.tf", "  assume_role_policy = data.aws_iam_policy_document.trust.json\n",
     "  assume_role_policy = data.aws_iam_policy_document.trust.json\n  assume_role_polcy  = \"{}\"\n",
     "schema", "'assume_role_polcy' is not an argument (did you mean 'assume_role_policy'?)"),
    ("modules/sentinel/functions.tf", '  function_name = "${var.name_prefix}-${each.key}"\n', "", "schema",
     "required argument 'function_name' is missing"),
    ("modules/ledger/main.tf", "  point_in_time_recovery {\n    enabled = true\n  }\n",
     "  point_in_time_recovery {\n    enabled = true\n  }\n\n  point_in_time_recovery {\n    enabled = true\n  }\n",
     "schema", "block 'point_in_time_recovery' may appear at most once"),
    ("modules/sentinel/bus.tf", "  retry_policy {\n", "  retry_policies {\n", "schema", "'retry_policies' is no such block"),
    ("modules/sentinel/iam.tf", 'actions   = ["sts:AssumeRole", "sts:SetSourceIdentity"]',
     'actions   = ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]',
     "iam", "Unknown condition sts:SourceIdentity for action sts:TagSession"),
    ("modules/protected-role/main.tf", 'actions = ["sts:AssumeRole", "sts:SetSourceIdentity"]',
     'actions = ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]',
     "iam", "Unknown condition sts:SourceIdentity for action sts:TagSession"),
    ("modules/sentinel/iam.tf", '"dynamodb:PutItem", "dynamodb:ConditionCheckItem"', '"dynamodb:PutItems", "dynamodb:ConditionCheckItem"',
     "iam", "dynamodb:PutItems"),
]


def self_test() -> int:
    """Plants each fault in a fresh copy of terraform/ and requires the right check to fail."""
    import tempfile

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sentinel-tf-selftest-") as tmp:
        clean = Path(tmp) / "clean" / "terraform"
        shutil.copytree(REPO / "terraform", clean, ignore=shutil.ignore_patterns(".terraform"))
        for name, check in (("schema", check_schema), ("iam", check_iam)):
            fails = Failures()
            check(clean, fails)
            if fails.items:
                failures.append(f"the unplanted copy fails the {name} check: {fails.items[0]}")
        for i, (path, old, new, section, phrase) in enumerate(PLANTED):
            copy = Path(tmp) / f"fault{i}" / "terraform"
            shutil.copytree(clean, copy)
            target = copy / path
            text = target.read_text(encoding="utf-8")
            if old not in text:
                failures.append(f"fault {i}: {path} no longer contains {old!r}; update PLANTED")
                continue
            target.write_text(text.replace(old, new, 1), encoding="utf-8")
            fails = Failures()
            (check_schema if section == "schema" else check_iam)(copy, fails)
            caught = [f for f in fails.items if phrase in f]
            status = "caught" if caught else "MISSED"
            print(f"self-test: {section:6} {path}: {phrase[:70]!r}: {status}")
            if not caught:
                failures.append(f"fault {i} in {path} was not caught by the {section} check "
                                f"(wanted {phrase!r}, got {fails.items[:3]})")
    if failures:
        print("\nterraform self-test FAILED:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"terraform self-test passed: {len(PLANTED)} planted faults caught, the clean copy passes")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terraform-dir", type=Path, default=REPO / "terraform")
    parser.add_argument("--skip-checkov", action="store_true", help="do not run checkov (syntax, refs, contract, schema, iam and fmt only)")
    parser.add_argument("--self-test", action="store_true", help="plant faults in a copy of terraform/ and require the checks to catch them")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.self_test:
        return self_test()
    tf_dir = args.terraform_dir.resolve()
    start = time.monotonic()
    fails = Failures()

    modules = parse_all(tf_dir, fails)
    nfiles = sum(len(m.files) for m in modules.values())
    print(f"syntax:   {nfiles} .tf files in {len(modules)} modules parsed")
    if any(f.startswith("[syntax]") for f in fails.items):
        # Everything after would report the unparsed file's declarations as missing.
        print("refs:     skipped (syntax errors)")
        print("contract: skipped (syntax errors)")
    else:
        check_references(modules, fails)
        print("refs:     checked")
        check_contract(modules, tf_dir, fails)
        print("contract: checked against terraform/contract.json")
        print(f"schema:   {check_schema(tf_dir, fails)}")
        print(f"iam:      {check_iam(tf_dir, fails)}")
    print(f"fmt:      {run_fmt(tf_dir, fails)}")
    nskips = check_suppressions(modules, fails)
    if args.skip_checkov:
        print("checkov:  skipped (--skip-checkov)")
    else:
        print(f"checkov:  {run_checkov(tf_dir, fails)}; {nskips} inline suppressions, all justified" if not any(
            f.startswith("[checkov]") for f in fails.items) else f"checkov:  see failures below")

    elapsed = time.monotonic() - start
    if fails.items:
        print(f"\nterraform checks FAILED ({len(fails.items)} problems, {elapsed:.1f} s):", file=sys.stderr)
        for item in fails.items:
            print(f"  {item}", file=sys.stderr)
        return 1
    print(f"terraform checks passed ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
