#!/usr/bin/env python3
"""The hashicorp/aws provider schema, offline: extract it once, check the Terraform against it.

`terraform validate` needs the provider binary, which cannot be downloaded here. The provider's
schema is also published as data in the npm registry: `@cdktf/provider-aws` (one package major
per provider major) carries, for every resource and data source, a TypeScript config interface
whose properties are the arguments and blocks, with `?` on the optional ones and the Terraform
name in each property's registry link.

  refresh   `npm pack` one package per provider major that versions.tf allows into a temporary
            directory, check each tarball against the registry's integrity hash, and write the
            compact extract tools/schema/aws-provider.json: only the provider, resource and data
            types that terraform/ uses, with their arguments (required or not) and blocks
            (nesting single or list, required or not, recursively), plus each tarball's hash.
  check     read the extract (never the network) and check every resource, data and provider
            block under terraform/ against each major's schema: argument and block names,
            required arguments and blocks, block versus argument, at most one single block.

Usage: tools/tf_schema.py refresh | check [--terraform-dir DIR] [--schema FILE]
`make schema-refresh` runs refresh; `make test` runs check (through terraform_checks.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "tools" / "schema" / "aws-provider.json"
NPM_PACKAGE = "@cdktf/provider-aws"
# One package per provider major: the newest release of the bindings for that major.
PACKAGES = {"5": "20.1.0", "6": "21.22.1"}

# Terraform's own arguments and blocks, valid in every resource and data block.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}
HCL_INTERNAL = {"__is_block__", "__comments__", "__start_line__", "__end_line__"}


# --------------------------------------------------------------------------------------------
# The extract: TypeScript declarations of @cdktf/provider-aws -> compact schema
# --------------------------------------------------------------------------------------------

CLASS_RE = re.compile(
    r"export declare class (\w+) extends cdktf\.(TerraformResource|TerraformDataSource|TerraformProvider) \{\s*"
    r"(?:/\*\*(?:[^*]|\*(?!/))*\*/\s*)?static readonly tfResourceType = \"(\w+)\";"
)
INTERFACE_RE = re.compile(r"^export interface (\w+)(?: extends [\w.]+)? \{\n", re.M)
PROPERTY_RE = re.compile(r"\s*(/\*\*(?:[^*]|\*(?!/))*\*/)?\s*readonly (\w+)(\??): ", re.S)
LINK_NAME_RE = re.compile(r"#([A-Za-z0-9_]+) \w+#[A-Za-z0-9_]+\}")
BLOCK_DOC_RE = re.compile(r"^\s*\*\s+([a-z0-9_]+) block\s*$", re.M)


def _type_text(body: str, start: int) -> tuple[str, int]:
    """The TypeScript type starting at `start`, up to the `;` that ends it (braces nest)."""
    depth = 0
    i = start
    while i < len(body):
        c = body[i]
        if c in "{(<[":
            depth += 1
        elif c in "})>]":
            depth -= 1
        elif c == ";" and depth == 0:
            return body[start:i].strip(), i + 1
        i += 1
    raise ValueError("unterminated property type")


def parse_interfaces(text: str) -> dict[str, list[dict]]:
    """Every exported interface of a .d.ts: its properties with name, optionality, type, doc."""
    interfaces: dict[str, list[dict]] = {}
    for m in INTERFACE_RE.finditer(text):
        end = text.index("\n}\n", m.end())
        body = text[m.end():end + 1]
        props = []
        pos = 0
        while True:
            p = PROPERTY_RE.match(body, pos)
            if not p:
                break
            ts_type, pos = _type_text(body, p.end())
            props.append({"doc": p.group(1) or "", "ts_name": p.group(2), "optional": p.group(3) == "?", "type": ts_type})
        interfaces[m.group(1)] = props
    return interfaces


def schema_of(interfaces: dict[str, list[dict]], name: str, where: str, depth: int = 0) -> dict:
    """The compact schema of interface `name`: arguments {name: required} and blocks."""
    if depth > 12:
        raise ValueError(f"{where}: nesting deeper than 12 at {name}")
    arguments: dict[str, bool] = {}
    blocks: dict[str, dict] = {}
    for prop in interfaces[name]:
        links = LINK_NAME_RE.findall(prop["doc"])
        if not links:
            raise ValueError(f"{where}: {name}.{prop['ts_name']} has no registry link naming its argument")
        tf_name = links[-1]
        required = not prop["optional"]
        ts_type = re.sub(r"\s*\|\s*cdktf\.IResolvable\b", "", prop["type"]).strip()
        list_of = re.fullmatch(r"(\w+)\[\]", ts_type)
        nested = list_of.group(1) if list_of else ts_type
        is_block = bool(BLOCK_DOC_RE.search(prop["doc"])) and nested in interfaces
        if is_block:
            block = schema_of(interfaces, nested, where, depth + 1)
            block["nesting"] = "list" if list_of else "single"
            block["required"] = required
            blocks[tf_name] = block
        else:
            arguments[tf_name] = required
    return {"arguments": dict(sorted(arguments.items())), "blocks": dict(sorted(blocks.items()))}


def declaration_path(kind: str, type_name: str) -> str:
    """Where the bindings keep a type: lib/iam-role/, lib/data-aws-iam-role/, lib/provider/."""
    if kind == "provider":
        return "package/lib/provider/index.d.ts"
    stem = type_name.removeprefix("aws_").replace("_", "-")
    return f"package/lib/{'data-aws-' if kind == 'data' else ''}{stem}/index.d.ts"


def extract_package(tarball: Path, wanted: dict[str, set[str]]) -> tuple[str, dict]:
    """The provider version and the schemas of the wanted types from one npm tarball."""
    by_path = {declaration_path(kind, t): (kind, t) for kind, types in wanted.items() for t in types}
    found: dict[str, dict[str, dict]] = {kind: {} for kind in wanted}
    provider_version = None
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            if member.name == "package/package.json":
                meta = json.load(tar.extractfile(member))
                provider_version = meta["cdktf"]["provider"]["version"]
            if member.name not in by_path:
                continue
            kind, type_name = by_path[member.name]
            text = tar.extractfile(member).read().decode("utf-8")
            cls = CLASS_RE.search(text)
            if not cls or cls.group(3) != type_name:
                raise ValueError(f"{tarball.name}:{member.name}: declares {cls and cls.group(3)}, expected {type_name}")
            interfaces = parse_interfaces(text)
            config = f"{cls.group(1)}Config"
            if config not in interfaces:
                raise ValueError(f"{tarball.name}:{member.name}: no interface {config}")
            found[kind][type_name] = schema_of(interfaces, config, f"{tarball.name}:{member.name}")
    if provider_version is None:
        raise ValueError(f"{tarball.name}: no package.json with cdktf.provider.version")
    for kind, types in wanted.items():
        for type_name in sorted(types - set(found[kind])):
            found[kind][type_name] = None  # not in this provider version
    return provider_version, {kind: dict(sorted(v.items())) for kind, v in found.items()}


def integrity_of(path: Path) -> str:
    """The npm `integrity` string (SRI, sha512) of a file."""
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def refresh(tf_dir: Path, out: Path) -> int:
    modules = parse_terraform(tf_dir)
    wanted = types_in_use(modules)
    majors = allowed_majors(modules)
    if sorted(majors) != sorted(PACKAGES):
        sys.exit(f"tf_schema: versions.tf allows provider majors {sorted(majors)}, PACKAGES in "
                 f"{Path(__file__).name} covers {sorted(PACKAGES)}: add or drop a package")
    result = {
        "$comment": "Generated by `make schema-refresh` (tools/tf_schema.py) from the npm @cdktf/provider-aws "
                    "bindings; only the types terraform/ uses. Do not edit by hand.",
        "packages": {},
        "schemas": {},
    }
    with tempfile.TemporaryDirectory(prefix="sentinel-schema-") as tmp:
        for major, version in sorted(PACKAGES.items()):
            spec = f"{NPM_PACKAGE}@{version}"
            expected = subprocess.run(["npm", "view", spec, "dist.integrity"], capture_output=True, text=True,
                                      check=True, timeout=120).stdout.strip()
            packed = subprocess.run(["npm", "pack", "--json", "--pack-destination", tmp, spec], capture_output=True,
                                    text=True, check=True, timeout=600)
            tarball = Path(tmp) / json.loads(packed.stdout)[0]["filename"]
            got = integrity_of(tarball)
            if got != expected:
                sys.exit(f"tf_schema: {spec}: tarball integrity {got} is not the registry's {expected}")
            provider_version, schemas = extract_package(tarball, wanted)
            if provider_version.split(".")[0] != major:
                sys.exit(f"tf_schema: {spec} binds provider {provider_version}, not major {major}")
            result["packages"][major] = {"package": spec, "provider_version": provider_version, "integrity": got}
            result["schemas"][major] = schemas
            print(f"{spec}: hashicorp/aws {provider_version}, {sum(len(v) for v in schemas.values())} types")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


# --------------------------------------------------------------------------------------------
# Reading terraform/
# --------------------------------------------------------------------------------------------

def parse_terraform(tf_dir: Path) -> dict[Path, dict]:
    """Every .tf file under tf_dir, parsed by python-hcl2."""
    import hcl2  # python-hcl2, in the dev venv

    files = sorted(p for p in tf_dir.rglob("*.tf") if ".terraform" not in p.parts)
    return {p: hcl2.load(p.open(encoding="utf-8")) for p in files}


def unquote(text: str) -> str:
    return text[1:-1] if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"' else text


def blocks_in(parsed: dict[Path, dict]):
    """(file, kind, type, name, body) for every resource, data and provider block."""
    for path, doc in parsed.items():
        for entry in doc.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    yield path, "resource", unquote(rtype), unquote(name), body
        for entry in doc.get("data", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    yield path, "data", unquote(rtype), unquote(name), body
        for entry in doc.get("provider", []):
            for ptype, body in entry.items():
                if unquote(ptype) == "aws":
                    yield path, "provider", "aws", "aws", body


def types_in_use(parsed: dict[Path, dict]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {"resource": set(), "data": set(), "provider": set()}
    for _, kind, rtype, _, _ in blocks_in(parsed):
        if kind == "provider" or rtype.startswith("aws_"):
            wanted[kind].add(rtype)
    return wanted


CONSTRAINT_RE = re.compile(r"(>=|<=|~>|!=|>|<|=)?\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def allowed_majors(parsed: dict[Path, dict]) -> set[str]:
    """Provider majors every `required_providers` aws constraint allows (intersection)."""
    majors: set[int] | None = None
    for path, doc in parsed.items():
        for tf in doc.get("terraform", []):
            for rp in tf.get("required_providers", []):
                aws = rp.get("aws")
                if not isinstance(aws, dict) or "version" not in aws:
                    continue
                allowed = set(range(0, 100))
                for part in unquote(aws["version"]).split(","):
                    m = CONSTRAINT_RE.fullmatch(part.strip())
                    if not m:
                        raise ValueError(f"{path}: cannot read version constraint {part!r}")
                    op, major, minor = m.group(1) or "=", int(m.group(2)), m.group(3)
                    minor_zero = minor is None or int(minor) == 0
                    if op == ">=":
                        allowed &= set(range(major, 100))
                    elif op == ">":
                        allowed &= set(range(major if minor is not None else major + 1, 100))
                    elif op == "<":
                        allowed &= set(range(0, major if minor_zero else major + 1))
                    elif op == "<=":
                        allowed &= set(range(0, major + 1))
                    elif op in ("~>", "="):  # ~> X.Y and ~> X.Y.Z stay within major X
                        allowed &= {major}
                majors = allowed if majors is None else majors & allowed
    if not majors:
        raise ValueError("no required_providers aws version constraint found, or they allow no major")
    return {str(m) for m in majors}


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------

def is_block_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def check_body(body: dict, schema: dict, where: str, meta: bool, problems: list[str]) -> None:
    """One block body (resource, data, provider or nested block) against its schema node."""
    used_blocks: dict[str, int] = {}  # static instances per block name
    dynamic_blocks: set[str] = set()
    for key, value in body.items():
        if key in HCL_INTERNAL:
            continue
        name = unquote(key)
        if name == "dynamic" and isinstance(value, list):
            for dyn in value:
                for label, spec in (dyn.items() if isinstance(dyn, dict) else ()):
                    if label in HCL_INTERNAL:
                        continue
                    label = unquote(label)
                    block = schema["blocks"].get(label)
                    if block is None:
                        problems.append(f"{where}: dynamic {label!r}: no such block" + hint(label, schema))
                        continue
                    dynamic_blocks.add(label)
                    for content in spec.get("content", []):
                        check_body(content, block, f"{where}.{label}", False, problems)
            continue
        if meta and (name in META_ARGUMENTS or name in META_BLOCKS):
            continue
        if is_block_list(value):
            block = schema["blocks"].get(name)
            if block is None:
                what = "an argument, not a block" if name in schema["arguments"] else "no such block"
                problems.append(f"{where}: {name!r} is {what}" + hint(name, schema))
                continue
            used_blocks[name] = used_blocks.get(name, 0) + len(value)
            for i, inner in enumerate(value):
                check_body(inner, block, f"{where}.{name}" + (f"[{i}]" if len(value) > 1 else ""), False, problems)
        else:
            if name not in schema["arguments"]:
                what = "a block, not an argument" if name in schema["blocks"] else "not an argument"
                problems.append(f"{where}: {name!r} is {what}" + hint(name, schema))
    present = {unquote(k) for k in body if k not in HCL_INTERNAL}
    for arg, required in schema["arguments"].items():
        if required and arg not in present:
            problems.append(f"{where}: required argument {arg!r} is missing")
    for name, block in schema["blocks"].items():
        count = used_blocks.get(name, 0)
        if block["required"] and count == 0 and name not in dynamic_blocks:
            problems.append(f"{where}: required block {name!r} is missing")
        if block["nesting"] == "single" and count > 1:
            problems.append(f"{where}: block {name!r} may appear at most once, found {count}")


def hint(name: str, schema: dict) -> str:
    """A close name, when there is one (a typo's likely intent)."""
    import difflib

    names = [n for n in list(schema["arguments"]) + list(schema["blocks"]) if n != name]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check(tf_dir: Path, schema_file: Path) -> list[str]:
    """Every problem found; empty when terraform/ fits every major's schema."""
    try:
        extract = json.loads(schema_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{schema_file}: {exc} (run `make schema-refresh`)"]
    parsed = parse_terraform(tf_dir)
    problems: list[str] = []
    majors = allowed_majors(parsed)
    if sorted(majors) != sorted(extract["schemas"]):
        problems.append(f"versions.tf allows provider majors {sorted(majors)}, the extract covers "
                        f"{sorted(extract['schemas'])}: update PACKAGES and run `make schema-refresh`")
    for major, schemas in sorted(extract["schemas"].items()):
        provider = extract["packages"][major]["provider_version"]
        for path, kind, rtype, name, body in blocks_in(parsed):
            if kind != "provider" and not rtype.startswith("aws_"):
                continue
            rel = path.relative_to(tf_dir.parent) if path.is_relative_to(tf_dir.parent) else path
            where = f"{rel}: {kind} {rtype}" + ("" if kind == "provider" else f".{name}") + f" (aws {provider})"
            if rtype not in schemas.get(kind, {}):
                problems.append(f"{where}: not in the extract (run `make schema-refresh`)")
                continue
            schema = schemas[kind][rtype]
            if schema is None:
                problems.append(f"{where}: the provider has no {kind} {rtype}")
                continue
            check_body(body, schema, where, kind != "provider", problems)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["refresh", "check"])
    parser.add_argument("--terraform-dir", type=Path, default=REPO / "terraform")
    parser.add_argument("--schema", type=Path, default=SCHEMA_FILE)
    args = parser.parse_args()
    if args.mode == "refresh":
        return refresh(args.terraform_dir.resolve(), args.schema)
    problems = check(args.terraform_dir.resolve(), args.schema)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"schema: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
