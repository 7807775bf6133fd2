"""The small subset of Go's text/template that falcosidekick configs use.

falcosidekick evaluates ``slack.messageformat`` (and similar keys) as a Go
template over its payload struct. Configs in the wild use:

- ``{{ .Rule }}``, ``{{ .Priority }}``, ``{{ .Output }}``, ``{{ .Time }}``,
  ``{{ .Source }}``, ``{{ .Hostname }}``, ``{{ .Tags }}``, ``{{ .OutputFields }}``, ``{{ .UUID }}``;
- ``{{ index .OutputFields "user.name" }}``;
- ``{{ or (index .OutputFields "k8s.pod.name") "none" }}``, string literals, ``{{- -}}`` trimming
  and ``{{/* comments */}}``.

Anything else (``if``, ``range``, pipes) is refused when the config is read, so
an unsupported template is a start-up error, never a surprise at alert time.
Values print like Go's ``%v``: a missing map key prints ``<no value>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

FIELD_NAMES = ("Output", "Priority", "Rule", "Time", "OutputFields", "Source", "Tags", "Hostname", "UUID")


class TemplateError(ValueError):
    pass


class NoValue:
    """Go's nil interface from a missing map key; prints as ``<no value>``."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = NoValue()

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|(`[^`]*`)|(\.[A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*)|(\S+))')


@dataclass(frozen=True)
class _Node:
    """A node of a parsed Go template: a field, a literal or a function call."""

    kind: str  # "field", "literal", "call"
    value: Any
    args: tuple[_Node, ...] = ()


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    return bytes(token[1:-1], "utf-8").decode("unicode_escape") if "\\" in token else token[1:-1]


def _tokens(text: str) -> list[str]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        if m.group(7) is not None:
            raise TemplateError(f"unsupported syntax {m.group(7)!r}")
        out.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return out


def _parse_expr(tokens: list[str], pos: int, in_call: bool) -> tuple[_Node, int]:
    tok = tokens[pos]
    if tok == "(":
        node, pos = _parse_command(tokens, pos + 1, closing=True)
        return node, pos
    if tok.startswith(".") and len(tok) > 1:
        name = tok[1:]
        if name not in FIELD_NAMES:
            raise TemplateError(f"unknown field .{name}; use one of: " + ", ".join("." + n for n in FIELD_NAMES))
        return _Node("field", name), pos + 1
    if tok.startswith('"') or tok.startswith("`"):
        return _Node("literal", _unquote(tok)), pos + 1
    if tok in ("index", "or", "and", "print") and not in_call:
        raise TemplateError(f"{tok} must come first in its action or be in parentheses")
    raise TemplateError(f"unsupported token {tok!r}")


def _parse_command(tokens: list[str], pos: int, closing: bool) -> tuple[_Node, int]:
    if pos >= len(tokens):
        raise TemplateError("empty action")
    head = tokens[pos]
    if head in ("index", "or", "and", "print"):
        args = []
        pos += 1
        while pos < len(tokens) and tokens[pos] != ")":
            arg, pos = _parse_expr(tokens, pos, in_call=False)
            args.append(arg)
        if head == "index" and len(args) < 2:
            raise TemplateError("index needs a map and a key: index .OutputFields \"proc.name\"")
        if head in ("or", "and") and not args:
            raise TemplateError(f"{head} needs arguments")
        node = _Node("call", head, tuple(args))
    elif head in ("if", "range", "with", "else", "end", "define", "template", "block"):
        raise TemplateError(f"'{head}' is not supported; pdigpy supports .Field, index, or, and, print and literals")
    else:
        node, pos = _parse_expr(tokens, pos, in_call=False)
    if closing:
        if pos >= len(tokens) or tokens[pos] != ")":
            raise TemplateError("missing ')'")
        pos += 1
    elif pos < len(tokens):
        raise TemplateError(f"unexpected {tokens[pos]!r}; pipelines are not supported")
    return node, pos


def _truthy(value: Any) -> bool:
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) > 0
    if isinstance(value, (int, float)):
        return value != 0
    return True


def go_print(value: Any) -> str:
    """A value as Go's ``fmt`` ``%v`` prints it."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    return str(value)


class GoTemplate:
    """A parsed template; ``render(data)`` with ``data`` keyed by the Go field names."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[str | _Node] = []
        pos = 0
        pending_trim = False
        for m in _ACTION.finditer(text):
            literal = text[pos:m.start()]
            if pending_trim:
                literal = literal.lstrip()
            if m.group(1):
                literal = literal.rstrip()
            self._parts.append(literal)
            body = m.group(2).strip()
            pending_trim = bool(m.group(3))
            pos = m.end()
            if body.startswith("/*") and body.endswith("*/"):
                continue
            tokens = _tokens(body)
            node, _ = _parse_command(tokens, 0, closing=False)
            self._parts.append(node)
        tail = text[pos:]
        if "{{" in tail:
            raise TemplateError("unclosed action '{{'")
        self._parts.append(tail.lstrip() if pending_trim else tail)

    def render(self, data: dict[str, Any]) -> str:
        out = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(go_print(self._eval(part, data)))
        return "".join(out)

    def _eval(self, node: _Node, data: dict[str, Any]) -> Any:
        if node.kind == "field":
            return data.get(node.value, NO_VALUE)
        if node.kind == "literal":
            return node.value
        values: list[Callable[[], Any]] = [lambda a=a: self._eval(a, data) for a in node.args]
        if node.value == "index":
            target = values[0]()
            for key_fn in values[1:]:
                key = key_fn()
                if isinstance(target, dict):
                    target = target.get(key, NO_VALUE)
                elif isinstance(target, (list, tuple)) and isinstance(key, int) and 0 <= key < len(target):
                    target = target[key]
                else:
                    return NO_VALUE
            return target
        if node.value == "or":
            value: Any = NO_VALUE
            for fn in values:
                value = fn()
                if _truthy(value):
                    return value
            return value
        if node.value == "and":
            value = NO_VALUE
            for fn in values:
                value = fn()
                if not _truthy(value):
                    return value
            return value
        # print: Go's fmt.Sprint adds spaces between operands when neither is a string
        printed = [fn() for fn in values]
        text = ""
        for i, value in enumerate(printed):
            if i and not isinstance(value, str) and not isinstance(printed[i - 1], str):
                text += " "
            text += go_print(value)
        return text
