"""Comparison operators: builders that turn an operator and its compile-time RHS into a test.

Each ``make_*`` function runs once at compile time and returns a small function
``test(value) -> bool`` for a present (non-None) LHS value; the compiler wraps
it with the missing-value rule. Semantics follow libsinsp (spec §1.3):

- ``glob``/``iglob``: fnmatch(3) with flags 0: ``*`` and ``?`` cross ``/``, no
  special leading dot, ``[...]`` classes (``!``/``^`` negation, ``[:alpha:]``),
  backslash escapes; ``iglob`` folds ASCII case. The whole value must match.
- ``pmatch``: path-component prefix match; a component holding ``*``, ``?`` or
  ``[`` is glob-matched against exactly one component.
- ``regex``: a full, anchored match. Python's ``re`` stands in for RE2 (POSIX
  syntax): back-references and look-arounds are rejected (RE2 has neither),
  ``[[:class:]]`` is translated; Perl classes like ``\\d`` are accepted although
  RE2's POSIX mode would refuse them. Bytes that are not UTF-8 are replaced by
  U+FFFD before matching (Falco 0.45).
- ``bcontains``/``bstartswith``: the RHS is hex (converted by values.py).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable, Iterable

__all__ = [
    "OperatorError",
    "ascii_lower",
    "ascii_upper",
    "glob_to_regex",
    "make_glob",
    "make_pmatch",
    "make_regex",
    "regex_could_be_simpler",
]

Test = Callable[[Any], bool]

_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class OperatorError(ValueError):
    """An RHS the operator cannot use (bad regex ...); the message is for the user."""


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, like libsinsp's per-byte tolower."""
    return text.lower() if text.isascii() else text.translate(_LOWER)


def ascii_upper(text: str) -> str:
    return text.upper() if text.isascii() else text.translate(_UPPER)


# ------------------------------------------------------------------ glob

_POSIX_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").replace("-", "\\-"),
    "xdigit": "0-9a-fA-F",
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "word": "a-zA-Z0-9_",
}


def _class_char(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[" else ch


def _bracket(pattern: str, i: int) -> tuple[str, int] | None:
    """Translate the bracket expression starting at pattern[i] == '['; None if unterminated."""
    n = len(pattern)
    j = i + 1
    negate = False
    if j < n and pattern[j] in "!^":
        negate = True
        j += 1
    parts: list[str] = []
    first = True
    while j < n:
        ch = pattern[j]
        if ch == "]" and not first:
            body = "".join(parts)
            if not body:
                return ("[^\\s\\S]" if not negate else "[\\s\\S]"), j + 1
            return ("[^" if negate else "[") + body + "]", j + 1
        first = False
        if ch == "[" and pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            if end > 0 and pattern[j + 2 : end] in _POSIX_CLASSES:
                parts.append(_POSIX_CLASSES[pattern[j + 2 : end]])
                j = end + 2
                continue
        if ch == "\\" and j + 1 < n:
            j += 1
            ch = pattern[j]
        # a range a-z (the '-' is literal at the edges)
        if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
            hi = pattern[j + 2]
            k = j + 2
            if hi == "\\" and k + 1 < n:
                k += 1
                hi = pattern[k]
            if ord(hi) >= ord(ch):
                parts.append(_class_char(ch) + "-" + _class_char(hi))
            j = k + 1
            continue
        parts.append(_class_char(ch))
        j += 1
    return None


def glob_to_regex(pattern: str) -> str:
    """fnmatch(3) (flags 0) pattern as a Python regex source for ``fullmatch`` with DOTALL."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
            i += 1
        elif ch == "?":
            out.append(".")
            i += 1
        elif ch == "[":
            res = _bracket(pattern, i)
            if res is None:
                out.append(re.escape("["))
                i += 1
            else:
                out.append(res[0])
                i = res[1]
        elif ch == "\\":
            if i + 1 < n:
                out.append(re.escape(pattern[i + 1]))
                i += 2
            else:
                out.append(re.escape("\\"))
                i += 1
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


# Patterns below are strings compiled on first use through re's cache: importing must stay cheap.
_GLOB_META = r"[*?\[\\]"


def make_glob(pattern: str, icase: bool = False) -> Test:
    """A test for ``value glob pattern`` (``iglob`` when icase)."""
    if not icase and not re.search(_GLOB_META, pattern):
        return pattern.__eq__
    if not icase:
        # Common shapes without a regex: prefix*, *suffix, *infix*.
        inner = pattern.strip("*")
        if inner and not re.search(_GLOB_META, inner):
            lead, trail = pattern.startswith("*"), pattern.endswith("*")
            if pattern.count("*") == lead + trail:
                if lead and trail:
                    return lambda v: inner in v
                if trail:
                    return lambda v: v.startswith(inner)
                return lambda v: v.endswith(inner)
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if icase else 0)
    match = re.compile(glob_to_regex(pattern), flags).fullmatch
    return lambda v: match(v) is not None


@lru_cache(maxsize=1024)
def cached_glob(pattern: str, icase: bool = False) -> Test:
    """For field-to-field globs, whose pattern is only known per event."""
    return make_glob(pattern, icase)


# ---------------------------------------------------------------- pmatch


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c]


def make_pmatch(prefixes: Iterable[str]) -> Test:
    """A test for ``value pmatch (prefixes)``: component-wise path prefix."""
    literal: set[tuple[str, ...]] = set()
    globbed: list[list[Callable[[str], bool]]] = []
    for prefix in prefixes:
        comps = _components(prefix)
        if any(re.search(_GLOB_META, c) for c in comps):
            globbed.append([make_glob(c) for c in comps])
        else:
            literal.add(tuple(comps))
    match_all = () in literal  # "/" has no components: every path is below it
    # Normalised texts ("/a/b") of the literal prefixes, for the fast path below.
    texts = frozenset("/" + "/".join(c) for c in literal if c)
    lengths = sorted({len(c) for c in literal})

    def by_components(value: str) -> bool:
        comps = _components(value)
        n = len(comps)
        for k in lengths:
            if k > n:
                break
            if tuple(comps[:k]) in literal:
                return True
        return False

    # Hot path: an absolute path without empty components ("/a/b/c") is checked by
    # looking up each of its prefixes "/a", "/a/b", "/a/b/c" in a set of strings.
    def test(value: str) -> bool:
        if match_all:
            return True
        if value.startswith("/") and "//" not in value and not value.endswith("/"):
            i = value.find("/", 1)
            while i > 0:
                if value[:i] in texts:
                    return True
                i = value.find("/", i + 1)
            if value in texts:
                return True
        elif literal and by_components(value):
            return True
        if globbed:
            comps = _components(value)
            n = len(comps)
            for matchers in globbed:
                if len(matchers) <= n and all(m(c) for m, c in zip(matchers, comps)):
                    return True
        return False

    return test


# ----------------------------------------------------------------- regex

_BACKREF = r"(?<!\\)(?:\\\\)*\\[1-9]"
_LOOKAROUND = r"\(\?(?:=|!|<=|<!|P=)"
_BRACKET_CLASS = r"\[:([a-z]+):\]"


def _translate_posix_classes(pattern: str) -> str:
    """``[[:alpha:]]`` (RE2/POSIX) as a Python character class."""
    if "[:" not in pattern:
        return pattern

    def repl(m: re.Match) -> str:
        return _POSIX_CLASSES.get(m.group(1), m.group(0))

    return re.sub(_BRACKET_CLASS, repl, pattern)


def make_regex(pattern: str) -> Test:
    """A test for ``value regex pattern``: the whole value must match."""
    if re.search(_BACKREF, pattern):
        raise OperatorError(f"invalid regex '{pattern}': back-references are not supported")
    if re.search(_LOOKAROUND, pattern):
        raise OperatorError(f"invalid regex '{pattern}': look-around assertions are not supported")
    try:
        match = re.compile(_translate_posix_classes(pattern), re.DOTALL).fullmatch
    except re.error as exc:
        raise OperatorError(f"invalid regex '{pattern}': {exc}") from None

    def test(v: str) -> bool:
        if not v.isascii():
            v = _valid_utf8(v)
        return match(v) is not None

    return test


def _valid_utf8(text: str) -> str:
    """Bytes that were not UTF-8 (surrogate escapes) become U+FFFD, as Falco 0.45 does for regex."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_REGEX_META = r"[.^$*+?()\[\]{}|\\]"
_EDGE_WILDCARD = (".*", ".+", ".?")


def regex_could_be_simpler(pattern: str) -> bool:
    """True when the pattern has no metacharacter besides ^, $ and edge .* .+ .?"""
    core = pattern
    if core.startswith("^"):
        core = core[1:]
    if core.endswith("$") and not core.endswith("\\$"):
        core = core[:-1]
    for w in _EDGE_WILDCARD:
        if core.startswith(w):
            core = core[2:]
            break
    for w in _EDGE_WILDCARD:
        if core.endswith(w) and not core.endswith("\\" + w):
            core = core[:-2]
            break
    return re.search(_REGEX_META, core) is None
