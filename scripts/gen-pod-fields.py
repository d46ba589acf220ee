#!/usr/bin/env python3
"""Write lab/standin/pod_fields.py: every struct a Pod reaches, with each JSON field's Go kind,
read from the Go sources (the kubelet stand-in's decoder walks a manifest with it).

Usage: scripts/gen-pod-fields.py CORE_TYPES_GO META_TYPES_GO LABEL > lab/standin/pod_fields.py
  CORE_TYPES_GO  k8s.io/api core/v1/types.go
  META_TYPES_GO  k8s.io/apimachinery pkg/apis/meta/v1/types.go
  LABEL          where they came from (tags and commits), written into the header

Kinds: ``S:Name`` a struct value, ``*S:Name`` a pointer to one, ``[]S:Name`` a list of them;
``v`` a scalar value (string, bool, number or a named type of one), ``*v`` a pointer to one,
``[]v`` a list of them; ``m`` a map of scalars; ``rl`` a ResourceList; ``q``/``*q`` a
resource.Quantity; ``ios``/``*ios`` an intstr.IntOrString; ``t``/``*t`` a metav1.Time;
``x`` anything else (kept as written).
"""

from __future__ import annotations

import pprint
import re
import sys

STRUCT = re.compile(r"^type (\w+) struct \{$")
FIELD = re.compile(r'^\s+(\w+)\s+(\S+)\s+`json:"([^"]*)"')
EMBEDDED = re.compile(r'^\s+(\*?)([\w.]+)\s+`json:"(,inline)?"')
NAMED_EMBEDDED = re.compile(r'^\s+(\*?)([\w.]+)\s+`json:"(\w[^"]*)"')
ALIAS = re.compile(r"^type (\w+) (string|bool|int32|int64|int|float64|byte)$")
LEAVES = {
    "resource.Quantity": "q",
    "intstr.IntOrString": "ios",
    "metav1.Time": "t",
    "metav1.MicroTime": "t",
    "Time": "t",
    "MicroTime": "t",
    "types.UID": "v",
    "ResourceList": "rl",
}
SCALARS = {"string", "bool", "int32", "int64", "int", "float64", "byte", "uint64"}


def structs(paths: list[str]) -> tuple[dict[str, list[tuple[str, str, str]]], set[str]]:
    found: dict[str, list[tuple[str, str, str]]] = {}
    aliases: set[str] = set()
    for path in paths:
        current = None
        with open(path, encoding="utf-8") as source:
            lines = source.read().splitlines()
        for line in lines:
            alias = ALIAS.match(line)
            if alias:
                aliases.add(alias.group(1))
            start = STRUCT.match(line)
            if start:
                current = found.setdefault(start.group(1), [])
                continue
            if current is None:
                continue
            if line == "}":
                current = None
                continue
            embedded = EMBEDDED.match(line)
            if embedded:
                current.append(("", embedded.group(2).split(".")[-1], "inline"))
                continue
            named = NAMED_EMBEDDED.match(line)
            if named:  # metav1.ObjectMeta `json:"metadata,omitempty"`
                current.append(
                    (named.group(3).split(",")[0], named.group(1) + named.group(2), "field")
                )
                continue
            field = FIELD.match(line)
            if field:
                name = field.group(3).split(",")[0]
                if name and name != "-":
                    current.append((name, field.group(2), "field"))
    return found, aliases


def kind(go_type: str, known: dict, aliases: set[str]) -> tuple[str, str | None]:
    """(kind, struct it leads to or None)."""
    prefix = ""
    while go_type.startswith(("*", "[]")):
        step = "*" if go_type.startswith("*") else "[]"
        prefix += step
        go_type = go_type[len(step) :]
    if go_type.startswith("map["):
        return ("rl" if "Quantity" in go_type else "m"), None
    if go_type in LEAVES:
        return prefix + LEAVES[go_type], None
    bare = go_type.split(".")[-1]
    if bare in known:
        return f"{prefix}S:{bare}", bare
    if go_type in SCALARS or bare in aliases:
        return prefix + "v", None
    return "x", None


def main() -> None:
    core, meta, label = sys.argv[1:4]
    known, aliases = structs([core, meta])
    out: dict[str, dict[str, str]] = {}
    todo = ["Pod"]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        fields: dict[str, str] = {}
        out[name] = fields
        for json_name, go_type, how in known[name]:
            if how == "inline":
                if go_type in ("TypeMeta",):
                    fields.update({"apiVersion": "v", "kind": "v"})
                    continue
                todo.append(go_type)
                fields[f"...{go_type}"] = "inline"
                continue
            field_kind, target = kind(go_type, known, aliases)
            fields[json_name] = field_kind
            if target:
                todo.append(target)

    # Inline the embedded structs' fields (VolumeSource in Volume, ProbeHandler in Probe...).
    def flat(name: str) -> dict[str, str]:
        result: dict[str, str] = {}
        for key, value in out[name].items():
            if value == "inline":
                result.update(flat(key[3:]))
            else:
                result[key] = value
        return result

    table = {name: flat(name) for name in sorted(out)}
    print('"""The Go fields of a Pod, as the JSON decoder fills them: generated by')
    print("scripts/gen-pod-fields.py from k8s.io/api core/v1/types.go and k8s.io/apimachinery")
    print("pkg/apis/meta/v1/types.go, at:")
    for part in label.split(";"):
        print(f"  {part.strip()}")
    print("Do not edit; regenerate.")
    print()
    print("Kinds (see the script): S:Name struct value, *S:Name pointer to struct, []S:Name list;")
    print("v scalar value, *v pointer to scalar, []v list of scalars; m map of scalars;")
    print('rl ResourceList; q/*q Quantity; ios/*ios IntOrString; t/*t metav1.Time; x other."""')
    print()
    print("from typing import Dict")
    print()
    print("FIELDS: Dict[str, Dict[str, str]] = " + pprint.pformat(table, width=96, sort_dicts=True))


if __name__ == "__main__":
    main()
