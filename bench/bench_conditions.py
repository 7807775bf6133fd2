"""Parse and compile speed of every condition in the upstream rules files.

Times are CPU time (process_time), so that a busy machine distorts them less.
Lists are substituted textually first (as the loader does, spec 2.7, simplified:
recursive expansion, no visibility order), then each macro and rule condition is
parsed. Run: .venv/bin/python bench/bench_conditions.py
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parents[1] / "../shared/corpus/upstream-rules"
FILES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")


def load_items() -> tuple[dict[str, list[str]], list[str]]:
    lists: dict[str, list[str]] = {}
    conditions: list[str] = []
    for name in FILES:
        for item in yaml.safe_load((CORPUS / name).read_text()) or []:
            if "list" in item:
                lists.setdefault(item["list"], []).extend(item.get("items") or [])
            elif "macro" in item and "condition" in item:
                conditions.append(item["condition"])
            elif "rule" in item and "condition" in item:
                conditions.append(item["condition"])
    return lists, conditions


def expand_lists(lists: dict[str, list[str]]) -> dict[str, str]:
    def items_of(name: str, seen: frozenset[str]) -> list[str]:
        out = []
        for it in lists[name]:
            it = str(it)
            if it in lists and it not in seen:
                out.extend(items_of(it, seen | {it}))
            else:
                out.append(it)
        return out

    text = {}
    for name in lists:
        items = [f'"{i}"' if " " in i and not i.startswith(("'", '"')) else i for i in items_of(name, frozenset({name}))]
        text[name] = ", ".join(items)
    return text


def substitute(condition: str, list_text: dict[str, str]) -> str:
    for name, repl in list_text.items():
        if name in condition:
            pattern = r"(?<![^\s(),=])\s*" + re.escape(name) + r"\s*(?![^\s(),=])"
            if not repl:  # an empty list also takes one adjacent comma with it
                pattern = r"(?:,\s*" + re.escape(name) + r"(?![^\s(),=])|(?<![^\s(),=])" + re.escape(name) + r"(?![^\s(),=])\s*,?)"
            condition = re.sub(pattern, lambda m: repl, condition)
    return condition


def corpus_conditions() -> list[str]:
    lists, conditions = load_items()
    list_text = expand_lists(lists)
    return [substitute(c, list_text) for c in conditions]


def main() -> None:
    from pdigpy.engine import grammar

    conds = corpus_conditions()
    grammar._grammar()  # build once, outside the timing
    t0 = time.process_time()
    errors = 0
    for c in conds:
        try:
            grammar._parse_cached.__wrapped__(c, 1000)
        except grammar.ParseError:
            errors += 1
    t1 = time.process_time()
    chars = sum(len(c) for c in conds)
    print(f"parsed {len(conds)} conditions ({chars} chars) in {(t1 - t0) * 1000:.1f} ms, {errors} parse errors")


def expand_macros(node, macros: dict):
    """Replace MacroRef nodes by the macro's tree (recursively; loops not handled)."""
    from pdigpy.engine.ast import And, MacroRef, Not, Or

    if isinstance(node, MacroRef):
        return expand_macros(macros[node.name], macros) if node.name in macros else node
    if isinstance(node, Not):
        return Not(expand_macros(node.child, macros), node.pos)
    if isinstance(node, (And, Or)):
        return type(node)(tuple(expand_macros(c, macros) for c in node.children), node.pos)
    return node


def rule_trees() -> list:
    """Every rule condition of the three files, parsed and macro-expanded."""
    from pdigpy.engine.grammar import parse_condition

    lists, _ = load_items()
    list_text = expand_lists(lists)
    macros, rules = {}, []
    for name in FILES:
        for item in yaml.safe_load((CORPUS / name).read_text()) or []:
            if "macro" in item and "condition" in item:
                macros[item["macro"]] = parse_condition(substitute(item["condition"], list_text))
            elif "rule" in item and "condition" in item:
                rules.append((item["rule"], parse_condition(substitute(item["condition"], list_text))))
    return [(name, expand_macros(tree, macros)) for name, tree in rules]


def bench_compile() -> None:
    from pdigpy.engine.compiler import CompileError, compile_condition
    from pdigpy.engine.fields.registry import FieldRegistry

    trees = rule_trees()
    registry = FieldRegistry()
    t0 = time.process_time()
    errors: dict[str, int] = {}
    for _name, tree in trees:
        try:
            compile_condition(tree, registry, [])
        except CompileError as exc:
            key = exc.message.split(" field ")[0][:60]
            errors[key] = errors.get(key, 0) + 1
    t1 = time.process_time()
    print(f"compiled {len(trees)} rules in {(t1 - t0) * 1000:.1f} ms, {sum(errors.values())} compile errors")
    for msg, n in sorted(errors.items(), key=lambda kv: -kv[1]):
        print(f"  {n:3d}  {msg}")




def bench_eval(rounds: int = 200) -> None:
    """Evaluate every compiled upstream rule on a state-shaped openat event."""
    from pdigpy.engine.compiler import compile_condition
    from pdigpy.engine.fields.registry import FieldRegistry
    from pdigpy.events.model import Event
    from pdigpy.state.records import FdInfo, ProcShared, ThreadInfo

    init = ThreadInfo(1, 1, 0, comm="systemd", proc=ProcShared(exe="/sbin/init", exepath="/sbin/init"))
    bash = ThreadInfo(
        200, 200, 1, comm="bash", proc=ProcShared(exe="bash", exepath="/usr/bin/bash", args=["-c", "x"]), parent=init
    )
    evt = Event(
        1, 0, 200, 200, "openat", 3, {"dirfd": -100, "name": "/etc/shadow", "flags": 1, "mode": 0},
        thread=bash, fdinfo=FdInfo(3, "file", "f", name="/etc/shadow", openflags=1),
    )
    registry = FieldRegistry()
    predicates = [compile_condition(tree, registry) for _name, tree in rule_trees()]
    t0 = time.process_time()
    for _ in range(rounds):
        for p in predicates:
            p(evt)
    t1 = time.process_time()
    n = rounds * len(predicates)
    print(f"evaluated {len(predicates)} rules x {rounds} on one openat event: {(t1 - t0) / n * 1e9:.0f} ns per rule")


if __name__ == "__main__":
    main()
    bench_compile()
    bench_eval()
