"""Falco's canonical printed form of a condition AST (``condition_compiled`` in ``-L`` JSON).

``(a and b)`` for and/or nodes, ``not x`` for negations, ``f op v`` for checks,
``name(a,b)`` for transformers, ``(v1, v2)`` for lists; values are printed raw
unless they hold a blank, ``=``, a quote, a backslash, a control character or
NUL, in which case they are double-quoted with ``\\``, ``"`` and the control
characters escaped.
"""

from __future__ import annotations

from pdigpy.engine.ast import (
    And,
    Check,
    FieldRef,
    FieldValue,
    ListValue,
    MacroRef,
    Not,
    Or,
    Transformer,
    Value,
)

__all__ = ["ast_to_str", "escape_value"]

_ESCAPED = {
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\\": "\\\\",
    '"': '\\"',
    "\0": "\\x00",
}
_QUOTE_TRIGGERS = frozenset(" ='") | frozenset(_ESCAPED)


def escape_value(text: str) -> str:
    """A value as Falco prints it: raw, or double-quoted when it needs to be."""
    if not any(ch in _QUOTE_TRIGGERS for ch in text):
        return text
    return '"' + "".join(_ESCAPED.get(ch, ch) for ch in text) + '"'


def ast_to_str(node) -> str:
    """Falco's canonical string for any AST node (conditions and operands)."""
    if isinstance(node, Check):
        lhs = ast_to_str(node.lhs)
        if node.rhs is None:
            return f"{lhs} {node.op}"
        if node.modifier:
            return f"{lhs} {node.op} {node.modifier} {ast_to_str(node.rhs)}"
        return f"{lhs} {node.op} {ast_to_str(node.rhs)}"
    if isinstance(node, And):
        return "(" + " and ".join(ast_to_str(c) for c in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " or ".join(ast_to_str(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return "not " + ast_to_str(node.child)
    if isinstance(node, MacroRef):
        return node.name
    if isinstance(node, FieldRef):
        return node.name if node.arg is None else f"{node.name}[{node.arg}]"
    if isinstance(node, Value):
        return escape_value(node.text)
    if isinstance(node, ListValue):
        return "(" + ", ".join(ast_to_str(v) for v in node.items) + ")"
    if isinstance(node, FieldValue):
        return f"val({ast_to_str(node.field)})"
    if isinstance(node, Transformer):
        text = node.name + "(" + ",".join(ast_to_str(a) for a in node.args) + ")"
        return text if node.arg is None else f"{text}[{node.arg}]"
    raise TypeError(f"not a condition AST node: {node!r}")
