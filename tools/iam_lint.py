#!/usr/bin/env python3
"""IAM policy lint, offline: every policy document of terraform/ (and the JSON policies of
terraform/examples and docs/) through parliament, which knows each action's resource types and
condition keys from AWS's service authorization reference (shipped inside the package).

`aws_iam_policy_document` data blocks are rendered to policy JSON by a small renderer of our own:
python-hcl2 parses the block, and every expression in it (locals, variables, data sources,
resource attributes, `for` expressions, the iterator of a `dynamic "statement"`) is evaluated to
a representative value of the right shape - an ARN of the right service and resource type, an
account id - so that parliament can match resources and condition values against each action.
Each `dynamic "statement"` is rendered once, as if its for_each were non-empty.

Trust policies have no Resource; the role being assumed is their resource, so a placeholder role
ARN is added before linting.

Every finding fails the lint except those listed in ALLOWED, each with its reason.

Usage: tools/iam_lint.py [--terraform-dir DIR] [--docs-dir DIR] [--show]   (--show prints the JSON)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

ACCOUNT = "111122223333"
# A stream ARN ends in a timestamp with colons (…/stream/2026-01-01T00:00:00.000); parliament's
# strict ARN match splits on ":" and rejects those, so the representative label has none.
STREAM_LABEL = "2026-01-01T00.00.00.000"
REGION = "eu-central-1"
PARTITION = "aws"
TRUST_RESOURCE = f"arn:aws:iam::{ACCOUNT}:role/SentinelProtected-TrustPolicyUnderLint"

# Findings that are expected, keyed by (issue, start of the statement's Sid) -> why. Empty: every
# finding fails the lint. Add an entry only with the reason the finding does not apply.
ALLOWED: dict[tuple[str, str], str] = {}

# Attribute of a resource (or data source) type -> a representative value. NAME is the resource's
# label, so two tables get two different ARNs.
ARN_OF = {
    ("aws_dynamodb_table", "arn"): "arn:aws:dynamodb:{r}:{a}:table/{n}",
    ("aws_dynamodb_table", "stream_arn"): "arn:aws:dynamodb:{r}:{a}:table/{n}/stream/" + STREAM_LABEL,
    ("aws_sqs_queue", "arn"): "arn:aws:sqs:{r}:{a}:{n}",
    ("aws_sns_topic", "arn"): "arn:aws:sns:{r}:{a}:{n}",
    ("aws_cloudwatch_event_bus", "arn"): "arn:aws:events:{r}:{a}:event-bus/{n}",
    ("aws_cloudwatch_event_bus", "name"): "{n}",
    ("aws_cloudwatch_event_rule", "arn"): "arn:aws:events:{r}:{a}:rule/sentinel-ledger/{n}",
    ("aws_cloudwatch_log_group", "arn"): "arn:aws:logs:{r}:{a}:log-group:/aws/lambda/{n}",
    ("aws_lambda_function", "arn"): "arn:aws:lambda:{r}:{a}:function:{n}",
    ("aws_iam_role", "arn"): "arn:aws:iam::{a}:role/{n}",
    ("aws_iam_role", "name"): "{n}",
    ("aws_apigatewayv2_api", "execution_arn"): "arn:aws:execute-api:{r}:{a}:{n}",
}
DATA_OF = {
    ("aws_partition", "partition"): PARTITION,
    ("aws_caller_identity", "account_id"): ACCOUNT,
    ("aws_region", "name"): REGION,
    ("aws_region", "region"): REGION,
}


def sample_for_variable(name: str):
    """A representative value for a variable without a usable default, from its name."""
    if name.endswith("_arns") or name.endswith("_ids"):
        one = sample_for_variable(name[:-1])
        return [one]
    if "stream_arn" in name:
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sample/stream/{STREAM_LABEL}"
    if "table_arn" in name:
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name.removesuffix('_table_arn')}"
    if "kms" in name:
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    if name.endswith("role_arn"):
        return f"arn:aws:iam::{ACCOUNT}:role/{name.removesuffix('_role_arn')}"
    if name.endswith("account_id"):
        return ACCOUNT
    if name.endswith("_arn"):
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    return name


# --------------------------------------------------------------------------------------------
# A small evaluator for the expressions python-hcl2 hands back as text
# --------------------------------------------------------------------------------------------

def unquote(text):
    return text[1:-1] if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"' else text


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets and strings."""
    parts, depth, cur, in_str, i = [], 0, [], False, 0
    while i < len(text):
        c = text[i]
        if in_str:
            cur.append(c)
            if c == "\\":
                cur.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            cur.append(c)
        elif c in "([{":
            depth += 1
            cur.append(c)
        elif c in ")]}":
            depth -= 1
            cur.append(c)
        elif depth == 0 and text.startswith(sep, i):
            parts.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


class Module:
    """What expressions in one module can refer to."""

    def __init__(self, parsed_files: list[dict]):
        self.locals: dict[str, object] = {}
        self.variables: dict[str, dict] = {}
        for doc in parsed_files:
            for entry in doc.get("locals", []):
                self.locals.update({k: v for k, v in entry.items() if not k.startswith("__")})
            for entry in doc.get("variable", []):
                for name, body in entry.items():
                    self.variables[unquote(name)] = body


class Evaluator:
    def __init__(self, module: Module, scope: dict[str, object] | None = None):
        self.module = module
        self.scope = scope or {}

    def with_scope(self, **bindings) -> "Evaluator":
        return Evaluator(self.module, {**self.scope, **bindings})

    def value(self, node):
        """A parsed HCL value (string form, list, dict, number) to Python data."""
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, dict):
            return {unquote(k): self.value(v) for k, v in node.items() if not k.startswith("__")}
        if not isinstance(node, str):
            return node
        if node.startswith("${") and node.endswith("}") and self._one_interpolation(node):
            return self.code(node[2:-1])
        if node.startswith('"') and node.endswith('"'):
            return self.template(node[1:-1])
        return self.code(node)

    @staticmethod
    def _one_interpolation(text: str) -> bool:
        depth = 0
        for i, c in enumerate(text):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0 and i != len(text) - 1:
                    return False
        return True

    def template(self, text: str) -> str:
        out, i = [], 0
        while i < len(text):
            if text.startswith("${", i):
                depth, j = 0, i + 1
                while j < len(text):
                    if text[j] == "{":
                        depth += 1
                    elif text[j] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                out.append(str(self.code(text[i + 2:j])))
                i = j + 1
            elif text.startswith('\\"', i):
                out.append('"')
                i += 2
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def code(self, code: str):
        code = code.strip()
        if not code:
            return ""
        if code.startswith("(") and code.endswith(")") and len(split_top(code[1:-1], ",")) == 1:
            return self.code(code[1:-1])
        cond = split_top(code, "?")
        if len(cond) == 2:
            branches = split_top(cond[1], ":")
            if len(branches) >= 2:
                # Render the branch that yields something: lint what a deployment could contain.
                yes, no = self.code(branches[0]), self.code(":".join(branches[1:]))
                return yes if yes not in (None, [], "", {}) else no
        if code.startswith('"') and code.endswith('"'):
            return self.template(code[1:-1])
        if code.startswith("[") and code.endswith("]"):
            inner = code[1:-1].strip()
            m = re.match(r"for\s+(\w+)(?:\s*,\s*(\w+))?\s+in\s+", inner)
            if m:
                source, _, body = split_top(inner[m.end():], ":")[0], None, ":".join(split_top(inner[m.end():], ":")[1:])
                items = self.code(source)
                items = list(items.values()) if isinstance(items, dict) else (items or [])
                name = m.group(2) or m.group(1)
                return [self.with_scope(**{name: item, m.group(1): item}).code(body) for item in items]
            return [self.code(part) for part in split_top(inner, ",") if part.strip()]
        if re.fullmatch(r"-?\d+(\.\d+)?", code):
            return float(code) if "." in code else int(code)
        if code in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[code]
        call = re.fullmatch(r"(\w+)\((.*)\)", code, re.S)
        if call:
            args = [self.code(a) for a in split_top(call.group(2), ",") if a.strip()]
            return self.function(call.group(1), args)
        return self.reference(code)

    def function(self, name: str, args: list):
        flat = lambda xs: [y for x in xs for y in (x if isinstance(x, list) else [x])]  # noqa: E731
        if name in ("concat", "flatten"):
            return flat(args)
        if name in ("toset", "tolist", "distinct", "sort", "compact"):
            return [a for a in (args[0] if args else []) if a not in ("", None)]
        if name == "tostring":
            return str(args[0])
        if name == "join":
            return str(args[0]).join(str(a) for a in flat(args[1:]))
        if name == "length":
            return len(args[0]) if args and hasattr(args[0], "__len__") else 1
        if name == "one":
            return args[0][0] if args and isinstance(args[0], list) and args[0] else None
        return f"{name}-result"

    def reference(self, code: str):
        parts = re.findall(r"[A-Za-z_][\w-]*|\[[^\]]*\]|\*", code)
        names = [p for p in parts if not p.startswith("[") and p != "*"]
        if not names:
            raise ValueError(f"cannot evaluate {code!r}")
        root = names[0]
        if root in self.scope:
            value = self.scope[root]
            for attr in names[1:]:
                if attr == "value" or attr == "key":
                    continue
                value = value.get(attr) if isinstance(value, dict) else value
            return value
        if root == "each":
            return self.scope.get("each", "sample")
        if root == "local":
            return self.value(self.module.locals[names[1]]) if names[1] in self.module.locals else f"local-{names[1]}"
        if root == "var":
            spec = self.module.variables.get(names[1], {})
            default = self.value(spec["default"]) if "default" in spec else None
            if default in (None, [], {}, ["*"]) or (isinstance(default, list) and "*" in default):
                return sample_for_variable(names[1])
            return default
        if root == "data" and len(names) >= 4:
            return DATA_OF.get((names[1], names[3]), f"data-{names[1]}-{names[3]}")
        if len(names) == 2 and any(t == names[0] for t, _ in ARN_OF):
            # A whole resource with count/for_each, iterated by a `for`: one representative instance.
            return [{attr: template.format(r=REGION, a=ACCOUNT, n=f"sentinel-{names[1].replace('_', '-')}")
                     for (t, attr), template in ARN_OF.items() if t == names[0]}]
        if len(names) >= 3 and (names[0], names[2]) in ARN_OF:
            template = ARN_OF[(names[0], names[2])]
            return template.format(r=REGION, a=ACCOUNT, n=f"sentinel-{names[1].replace('_', '-')}")
        if len(names) >= 3 and names[2] == "arn":
            return f"arn:aws:{names[0].split('_')[1]}:{REGION}:{ACCOUNT}:{names[1]}"
        return "-".join(names)


# --------------------------------------------------------------------------------------------
# aws_iam_policy_document -> policy JSON
# --------------------------------------------------------------------------------------------

def as_list(value) -> list:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def terraform_shape(values: list[str]):
    """As the provider renders it: one value is a string, several a list."""
    return values[0] if len(values) == 1 else values


def render_statement(body: dict, ev: Evaluator) -> dict:
    stmt: dict = {}
    if "sid" in body:
        stmt["Sid"] = ev.value(body["sid"])
    stmt["Effect"] = ev.value(body.get("effect", '"Allow"'))
    for key, out in (("actions", "Action"), ("not_actions", "NotAction"),
                     ("resources", "Resource"), ("not_resources", "NotResource")):
        if key in body:
            stmt[out] = terraform_shape(as_list(ev.value(body[key])))
    for key, out in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        for block in body.get(key, []):
            ptype = ev.value(block["type"])
            ids = as_list(ev.value(block["identifiers"]))
            if ptype == "*":
                stmt[out] = "*"
            else:
                stmt.setdefault(out, {}).setdefault(ptype, []).extend(ids)
    for block in body.get("condition", []):
        test, variable = ev.value(block["test"]), ev.value(block["variable"])
        stmt.setdefault("Condition", {}).setdefault(test, {})[variable] = terraform_shape(as_list(ev.value(block["values"])))
    for principals in (stmt.get("Principal"), stmt.get("NotPrincipal")):
        if isinstance(principals, dict):
            for ptype, ids in principals.items():
                principals[ptype] = terraform_shape(ids)
    return stmt


def render_document(body: dict, ev: Evaluator) -> dict:
    statements = [render_statement(s, ev) for s in body.get("statement", [])]
    for dyn in body.get("dynamic", []):
        for label, spec in dyn.items():
            if unquote(label) != "statement":
                continue
            iterator = unquote(spec.get("iterator", "statement"))
            items = ev.value(spec.get("for_each", "[]"))
            items = list(items.values()) if isinstance(items, dict) else (items if isinstance(items, list) else [items])
            sample = items[0] if items else "sample"
            for content in spec.get("content", []):
                statements.append(render_statement(content, ev.with_scope(**{iterator: sample})))
    return {"Version": "2012-10-17", "Statement": statements}


def terraform_documents(tf_dir: Path):
    """(where, policy JSON) for every aws_iam_policy_document under tf_dir."""
    import hcl2

    by_dir: dict[Path, list[tuple[Path, dict]]] = {}
    for path in sorted(p for p in tf_dir.rglob("*.tf") if ".terraform" not in p.parts):
        by_dir.setdefault(path.parent, []).append((path, hcl2.load(path.open(encoding="utf-8"))))
    for directory, files in by_dir.items():
        module = Module([doc for _, doc in files])
        for path, doc in files:
            for entry in doc.get("data", []):
                for dtype, named in entry.items():
                    if unquote(dtype) != "aws_iam_policy_document":
                        continue
                    for name, body in named.items():
                        ev = Evaluator(module, {"each": "sample"})
                        yield f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: data.aws_iam_policy_document.{unquote(name)}", render_document(body, ev)


def json_documents(tf_dir: Path, docs_dir: Path | None):
    """(where, policy) for JSON policy files under terraform/ and ```json policies in docs/."""
    for path in sorted(tf_dir.rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(doc, dict) and "Statement" in doc:
            yield str(path.relative_to(REPO) if path.is_relative_to(REPO) else path), doc
    if docs_dir is None:
        return
    for path in sorted(docs_dir.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^```json\n(.*?)^```", text, re.S | re.M):
            try:
                doc = json.loads(m.group(1))
            except ValueError:
                continue
            if isinstance(doc, dict) and "Statement" in doc:
                line = text[:m.start()].count("\n") + 1
                yield f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{line}", doc


# --------------------------------------------------------------------------------------------
# Lint
# --------------------------------------------------------------------------------------------

def for_linting(doc: dict) -> dict:
    """Trust and resource policies as parliament reads them: a Resource on every statement."""
    doc = json.loads(json.dumps(doc))
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for stmt in statements:
        if "Resource" not in stmt and "NotResource" not in stmt and ("Principal" in stmt or "NotPrincipal" in stmt):
            stmt["Resource"] = TRUST_RESOURCE
    doc["Statement"] = statements
    return doc


def sid_at(doc: dict, finding) -> str:
    """The Sid of the statement a finding points into (by its position in the JSON text)."""
    return str(finding.location.get("sid", "")) if isinstance(finding.location, dict) else ""


def lint(documents, show: bool = False) -> tuple[int, list[str]]:
    from parliament import analyze_policy_string

    problems: list[str] = []
    count = 0
    for where, doc in documents:
        count += 1
        doc = for_linting(doc)
        if show:
            print(f"--- {where}\n{json.dumps(doc, indent=2)}")
        for index, stmt in enumerate(doc["Statement"]):
            single = {"Version": doc.get("Version", "2012-10-17"), "Statement": [stmt]}
            policy = analyze_policy_string(json.dumps(single))
            sid = stmt.get("Sid", f"#{index}")
            for f in policy.findings:
                reason = next((why for (issue, prefix), why in ALLOWED.items()
                               if f.issue == issue and str(sid).startswith(prefix)), None)
                if reason is None:
                    detail = f.detail if isinstance(f.detail, str) else json.dumps(f.detail, default=str)
                    problems.append(f"{where}: statement {sid}: {f.issue}: {detail}".rstrip(": "))
    return count, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terraform-dir", type=Path, default=REPO / "terraform")
    parser.add_argument("--docs-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--show", action="store_true", help="print every rendered document")
    args = parser.parse_args()
    docs = list(terraform_documents(args.terraform_dir)) + list(json_documents(args.terraform_dir, args.docs_dir))
    count, problems = lint(docs, args.show)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"iam: {count} policy documents, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
