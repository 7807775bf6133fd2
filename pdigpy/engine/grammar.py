"""The Falco condition grammar (pyparsing), producing :mod:`pdigpy.engine.ast` nodes.

The grammar mirrors libsinsp's recursive-descent parser: ordered alternatives,
no backtracking once a token committed the parse, and Falco's error messages at
the point where libsinsp would stop. Every alternative list therefore ends in a
``_Fail`` element that raises a fatal (non-backtracking) error with Falco's text.

Speed (the 445 upstream conditions parse in ~90 ms of CPU): the terminals are
small custom pyparsing tokens that run one compiled regex and build the AST
value directly (no parse-action wrapper); the and/or/not structure is two
custom elements (``_Nary``, ``_NotExpr``) that loop instead of trying
alternatives; the common check shape (field, operator, plain value or list) is
one regex, with the full grammar as the fallback for everything else (tests
check both give the same result). Results are cached by text.

Quirks kept on purpose (they are Falco's):

- ``a or(b) and c`` is an error: after ``or(``/``and(`` the parenthesised
  group is the whole operand.
- word operators and ``and``/``or``/``not`` are matched as prefixes, so
  ``a.b = 1 andx`` fails with "expected blank or '(' after 'and'" and
  ``a.b inx`` means ``a.b in x``.
- ``\\r\\n`` counts as two line breaks in error positions (as libsinsp counts).
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache

import pyparsing as pp

from pdigpy.engine.ast import (
    And,
    Check,
    FieldRef,
    FieldValue,
    ListValue,
    MacroRef,
    Node,
    Not,
    Or,
    Transformer,
    Value,
)

__all__ = ["ParseError", "parse_condition", "unescape_quoted", "TRANSFORMER_NAMES", "OPERATORS"]

DEFAULT_MAX_DEPTH = 1000

BLANKS = " \t\b\r\n"
_BL = r"[ \t\b\r\n]"
_SPACE = " \t\n\r\f\v\b"  # POSIX [:space:] (plus \b, which libsinsp also treats as blank)

TRANSFORMER_NAMES = ("tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt")
MODIFIERS = ("oneof", "anyof", "allof")
NUM_OPS = ("<=", "<", ">=", ">")
WORD_STR_OPS = (
    "glob", "iglob", "contains", "icontains", "bcontains",
    "startswith", "bstartswith", "endswith", "regex",
)
STR_OPS = ("==", "=", "!=") + WORD_STR_OPS
LIST_OPS = ("intersects", "in", "pmatch")
OPERATORS = ("exists",) + NUM_OPS + STR_OPS + LIST_OPS


def _quoted_list(names) -> str:
    return ", ".join(f"'{n}'" for n in names)


_TRANSFORMERS_MSG = _quoted_list(("val",) + TRANSFORMER_NAMES)
MSG_OPERATOR = "expected a valid check operator: one of " + _quoted_list(OPERATORS)
MSG_CHECK = "expected a '(' token, a field check, or an identifier"
MSG_CLOSE = "expected a ')' token"
MSG_CLOSE_TRANSFORMER = "expected a ')' token closing the transformer"
MSG_FIELD_ARG = "expected a valid field argument: a quoted string or a bare string"
MSG_FIELD_ARG_CLOSE = "expected a ']' token"
MSG_NUM_VALUE = "expected a number value or a field with a valid transformer: " + _TRANSFORMERS_MSG
MSG_STR_VALUE = "expected a string value or a field with a valid transformer: " + _TRANSFORMERS_MSG
MSG_LIST_VALUE = (
    "expected a list, an identifier, or a field with a valid transformer: " + _TRANSFORMERS_MSG
)
MSG_LIST_ITEM = "expected a string value"
MSG_TRANSFORMER_ARG = "expected a field or a nested valid transformer: " + _TRANSFORMERS_MSG
MSG_VAL_FIELD = "expected a field within 'val' transformer"
MSG_MODIFIER_LIST = "expected a list or an identifier after the modifier"


class ParseError(Exception):
    """A condition that does not parse. ``pos`` is 0-based; ``line``/``col`` are 1-based."""

    def __init__(self, message: str, pos: int, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.line = line
        self.col = col

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ParseError({self.message!r}, pos={self.pos}, line={self.line}, col={self.col})"


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of ``pos`` the way libsinsp counts (each CR or LF is a break)."""
    line, col = 1, 1
    for ch in text[:pos]:
        if ch == "\r" or ch == "\n":
            line += 1
            col = 1
        else:
            col += 1
    return line, col


# ---------------------------------------------------------------- escaping

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", "/": "/", " ": "\\"}
_HEX = set("0123456789abcdefABCDEF")


def unescape_quoted(body: str, quote: str) -> str:
    """Unescape the inside of a quoted string (libsinsp rules; raises ValueError with Falco's text).

    ``\\xHH`` yields the byte HH: below 0x80 as that character, above as the
    surrogate escape ``os.fsdecode`` would produce, so it compares with the
    raw bytes of event strings.
    """
    if "\\" not in body:
        return body
    out = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        esc = body[i] if i < n else ""
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
        elif esc == '"' or esc == "'":
            if esc != quote:
                if esc == '"':
                    raise ValueError("invalid \\\" escape in '-quoted string")
                raise ValueError("invalid \\' escape in \"-quoted string")
            out.append(esc)
        elif esc == "x":
            hh = body[i + 1 : i + 3]
            if len(hh) != 2 or not set(hh) <= _HEX:
                raise ValueError("invalid \\x escape sequence: expected two hex digits")
            code = int(hh, 16)
            out.append(chr(code) if code < 0x80 else chr(0xDC00 + code))
            i += 2
        else:
            raise ValueError("unsupported string escape sequence: \\" + esc)
        i += 1
    return "".join(out)


# ------------------------------------------------------------- tokens
# Hot path for parsing: each terminal runs one compiled regex and returns the
# AST object itself; pyparsing only sequences them.


class _Rx(pp.Token):
    """A regex terminal whose match is turned into a token by ``build(match, loc)``.

    ``skip``: whether blanks before it are skipped (libsinsp's ``lex_blank``).
    """

    def __init__(self, pattern: str, build=None, name: str = "", skip: bool = True) -> None:
        super().__init__()
        self.re = re.compile(pattern)
        self.build = build
        self.mayReturnEmpty = self.re.match("") is not None
        self.mayIndexError = False
        self.errmsg = "expected " + (name or pattern)
        self.set_name(name or pattern)
        _set_skip(self, skip)

    def parseImpl(self, instring, loc, do_actions=True):
        m = self.re.match(instring, loc)
        if m is None:
            raise pp.ParseException(instring, loc, self.errmsg, self)
        if self.build is None:
            return m.end(), []
        return m.end(), [self.build(m, loc)]


def _set_skip(elem: pp.ParserElement, skip: bool) -> None:
    if skip:
        elem.set_whitespace_chars(BLANKS)
    else:
        elem.leave_whitespace()


class _Lit(pp.Token):
    """A literal that yields no token (or ``value`` if given)."""

    def __init__(self, text: str, value=None, skip: bool = True) -> None:
        super().__init__()
        self.text = text
        self.value = value
        self.mayReturnEmpty = False
        self.mayIndexError = False
        self.errmsg = f"expected {text!r}"
        self.set_name(repr(text))
        _set_skip(self, skip)

    def parseImpl(self, instring, loc, do_actions=True):
        if instring.startswith(self.text, loc):
            return loc + len(self.text), ([] if self.value is None else [self.value])
        raise pp.ParseException(instring, loc, self.errmsg, self)


class _Fail(pp.Token):
    """Always fails fatally with Falco's message (stops all backtracking)."""

    def __init__(self, msg: str, skip: bool = True) -> None:
        super().__init__()
        self.msg = msg
        self.mayReturnEmpty = True
        self.mayIndexError = False
        self.errmsg = msg
        self.set_name("fail")
        _set_skip(self, skip)

    def parseImpl(self, instring, loc, do_actions=True):
        raise pp.ParseFatalException(instring, loc, self.msg, self)


class _Quoted(pp.Token):
    """A quoted string closed by the first matching quote not preceded by a backslash."""

    def __init__(self, skip: bool = True) -> None:
        super().__init__()
        self.mayReturnEmpty = False
        self.mayIndexError = False
        self.errmsg = "expected a quoted string"
        self.set_name("quoted string")
        _set_skip(self, skip)

    def parseImpl(self, instring, loc, do_actions=True):
        if loc < len(instring):
            quote = instring[loc]
            if quote == '"' or quote == "'":
                end = instring.find(quote, loc + 1)
                while end > 0 and instring[end - 1] == "\\":
                    end = instring.find(quote, end + 1)
                if end > 0:
                    try:
                        text = unescape_quoted(instring[loc + 1 : end], quote)
                    except ValueError as exc:
                        raise pp.ParseFatalException(instring, loc, str(exc), self) from None
                    return end + 1, [Value(text, True, loc)]
        raise pp.ParseException(instring, loc, self.errmsg, self)


class _End(pp.Token):
    """Matches anywhere (after blanks) and yields its location: the end of the parsed prefix."""

    def __init__(self) -> None:
        super().__init__()
        self.mayReturnEmpty = True
        self.mayIndexError = False
        _set_skip(self, True)

    def parseImpl(self, instring, loc, do_actions=True):
        return loc, [_EndMark(loc)]


class _EndMark:
    __slots__ = ("loc",)

    def __init__(self, loc: int) -> None:
        self.loc = loc


# ------------------------------------------------------------- grammar

_FIELD_NAME = r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+"
_IDENT = r"[a-zA-Z]+[a-zA-Z0-9_]*"
_ARG_BARE = r"[^\]\[\"'" + re.escape(_SPACE) + r"]+"
_BARE = r"[^()\"'=," + re.escape(_SPACE) + r"]+"
_NUM = r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?"
_HEXNUM = r"0[xX][0-9a-zA-Z]+"
_SIMPLE_QUOTED = r"\"[^\"\\]*\"|'[^'\\]*'"
_ITEM = r"(?:" + _BARE + "|" + _SIMPLE_QUOTED + ")"
_LIST_BODY = r"\(" + _BL + "*(?:" + _ITEM + _BL + "*(?:," + _BL + "*" + _ITEM + _BL + "*)*)?\\)"

# One regex for the common check shapes (field, operator, plain value), so that a
# typical check costs one token. Anything else (quoted strings with escapes,
# transformers, modifiers, quoted field args, errors) falls back to the full
# grammar, which gives the same tree.
_FAST_CHECK = (
    r"(?P<f>(?>" + _FIELD_NAME + r"))(?:\[(?P<a>" + _ARG_BARE + r")\])?(?!\[)" + _BL + "*"
    # (operators are atomic groups: "intersects" must not fall back to "in")
    r"(?:(?P<ex>exists)"
    r"|(?P<nop>(?><=|<|>=|>))" + _BL + "*(?P<nv>(?>" + _HEXNUM + "|" + _NUM + "))"
    r"|(?P<sop>(?>==|=|!=|(?:" + "|".join(WORD_STR_OPS) + ")(?=" + _BL + ")))" + _BL + "*"
    r"(?:(?P<sq>" + _SIMPLE_QUOTED + r")|(?!(?:" + "|".join(MODIFIERS) + ")" + _BL + r")(?P<sb>(?>" + _BARE + r"))(?!\())"
    r"|(?P<lop>(?>intersects|in|pmatch))" + _BL + "*"
    r"(?:(?P<ll>" + _LIST_BODY + r")|(?P<li>(?>" + _IDENT + r"))(?!\())"
    r")"
)


def _build_fast_check(m: re.Match, loc: int) -> Check:
    lhs = FieldRef(m.group("f"), m.group("a"), loc)
    if m.group("ex") is not None:
        return Check(lhs, "exists", None, None, loc)
    op = m.group("nop")
    if op is not None:
        return Check(lhs, op, Value(m.group("nv"), False, m.start("nv")), None, loc)
    op = m.group("sop")
    if op is not None:
        if m.group("sb") is not None:
            return Check(lhs, op, Value(m.group("sb"), False, m.start("sb")), None, loc)
        return Check(lhs, op, Value(m.group("sq")[1:-1], True, m.start("sq")), None, loc)
    op = m.group("lop")
    if m.group("li") is not None:
        return Check(lhs, op, Value(m.group("li"), False, m.start("li")), None, loc)
    return Check(lhs, op, _list_from_text(m.group("ll"), m.start("ll")), None, loc)


def _build_grammar(fast: bool = True) -> pp.ParserElement:
    """The grammar; ``fast=False`` leaves out the one-regex shortcuts (tests compare both)."""
    bl = _Rx(_BL + "+", None, "blank", skip=False)  # mandatory blanks
    quoted = _Quoted()
    bare = _Rx(_BARE, lambda m, loc: Value(m.group(), False, loc), "bare string")
    str_value = quoted | bare
    arg_bare = _Rx(_ARG_BARE, lambda m, loc: Value(m.group(), False, loc), "field argument", skip=False)
    field_arg = (
        _Lit("[", skip=False)
        + (_Quoted(skip=False) | arg_bare | _Fail(MSG_FIELD_ARG, skip=False))
        + (_Lit("]", skip=False) | _Fail(MSG_FIELD_ARG_CLOSE, skip=False))
    )

    # field: fast path for name and bare [arg]; slow path for quoted args and errors
    field_fast = _Rx(
        "((?>" + _FIELD_NAME + r"))(?:\[(" + _ARG_BARE + r")\])?(?!\[)",
        lambda m, loc: FieldRef(m.group(1), m.group(2), loc),
        "field",
    )
    field_slow = _Rx(_FIELD_NAME, lambda m, loc: (m.group(), loc), "field name") + pp.Optional(field_arg)
    field_slow.set_parse_action(
        lambda s, loc, t: FieldRef(t[0][0], t[1].text if len(t) > 1 else None, t[0][1])
    )
    field = field_fast | field_slow if fast else field_slow

    number = _Rx(
        "(?:" + _HEXNUM + "|" + _NUM + ")", lambda m, loc: Value(m.group(), False, loc), "number"
    )

    # transformers: name( arg {, arg} ) [ [arg] ]
    transformer = pp.Forward()
    t_head = _Rx("(" + "|".join(TRANSFORMER_NAMES) + r")\(", lambda m, loc: (m.group(1), loc))
    tlist_arg = field | transformer | quoted | number
    tlist = (
        _Lit("(")
        + pp.Optional(tlist_arg + pp.ZeroOrMore(_Lit(",") + (tlist_arg | _Fail(MSG_TRANSFORMER_ARG))))
        + (_Lit(")") | _Fail(MSG_CLOSE))
    )
    tlist.set_parse_action(lambda s, loc, t: ListValue(tuple(t), loc))
    t_arg = transformer | field | quoted | number | tlist
    t_field_arg = field_arg.copy()
    t_field_arg.set_parse_action(lambda s, loc, t: _TArg(t[0].text))
    transformer <<= (
        t_head
        + (t_arg | _Fail(MSG_TRANSFORMER_ARG))
        + pp.ZeroOrMore(_Lit(",") + (t_arg | _Fail(MSG_TRANSFORMER_ARG)))
        + (_Lit(")") | _Fail(MSG_CLOSE_TRANSFORMER))
        + pp.Optional(t_field_arg)
    )
    transformer.set_parse_action(_build_transformer)

    val = (
        _Lit("val(", "val")
        + (field | _Fail(MSG_VAL_FIELD))
        + (_Lit(")") | _Fail(MSG_CLOSE_TRANSFORMER))
    )
    val.set_parse_action(lambda s, loc, t: FieldValue(t[1], loc))
    transformer_or_val = val | transformer

    # list literal: one regex when no item needs unescaping, else item by item
    list_fast = _Rx(_LIST_BODY, lambda m, loc: _list_from_text(m.group(), loc), "list")
    list_slow = (
        _Lit("(")
        + pp.Optional(str_value + pp.ZeroOrMore(_Lit(",") + (str_value | _Fail(MSG_LIST_ITEM))))
        + (_Lit(")") | _Fail(MSG_CLOSE))
    )
    list_slow.set_parse_action(lambda s, loc, t: ListValue(tuple(t), loc))
    list_literal = list_fast | list_slow if fast else list_slow
    ident_value = _Rx(_IDENT, lambda m, loc: Value(m.group(), False, loc), "identifier")

    num_rhs = transformer_or_val | number | _Fail(MSG_NUM_VALUE)
    modifier = _Rx(
        "(" + "|".join(MODIFIERS) + ")" + _BL + r"+(?=\(|(?!(?:and|or|not)(?![a-zA-Z0-9_]))[a-zA-Z])",
        lambda m, loc: _Mod(m.group(1)),
        "modifier",
    )
    str_rhs = (
        modifier + (list_literal | ident_value | _Fail(MSG_MODIFIER_LIST))
        | transformer_or_val
        | str_value
        | _Fail(MSG_STR_VALUE)
    )
    list_rhs = list_literal | transformer_or_val | ident_value | _Fail(MSG_LIST_VALUE)

    op_exists = _Lit("exists", _Op("exists"))
    op_num = _Rx("(?:<=|<|>=|>)", lambda m, loc: _Op(m.group()), "numeric operator")
    op_str = _Rx(
        "(?:==|=|!=|(?:" + "|".join(WORD_STR_OPS) + ")(?=" + _BL + "))",
        lambda m, loc: _Op(m.group()),
        "string operator",
    )
    op_list = _Rx("(?:intersects|in|pmatch)", lambda m, loc: _Op(m.group()), "list operator")
    condition = (
        op_exists
        | op_num + num_rhs
        | op_str + str_rhs
        | op_list + list_rhs
        | _Fail(MSG_OPERATOR)
    )

    expr = pp.Forward()
    embedded_rest = expr + (_Lit(")") | _Fail(MSG_CLOSE))
    field_check = (field | transformer) + condition
    field_check.set_parse_action(_build_check)
    macro = _Rx(_IDENT, lambda m, loc: MacroRef(m.group(), loc), "identifier")
    slow_check = field_check | macro | _Fail(MSG_CHECK)
    not_expr = _NotExpr(embedded_rest, slow_check, fast)
    and_expr = _Nary(not_expr, embedded_rest, "and", And)
    expr <<= _Nary(and_expr, embedded_rest, "or", Or)

    top = expr + _End()
    top.parse_with_tabs()
    top.streamline()
    return top


_NOTS_RE = re.compile("(?:not" + _BL + "+)*")


class _NotExpr(pp.Token):
    """``{not BLANK+} ( not( Expr ) | ( Expr ) | Check )`` with not-folding.

    Hot path for parsing: the common shapes (a parenthesised group, a plain
    check) are dispatched here without trying pyparsing alternatives.
    """

    def __init__(self, embedded_rest: pp.ParserElement, slow_check: pp.ParserElement, fast: bool) -> None:
        super().__init__()
        # compiled here, not at import: pdigpy may run from cached trees without parsing
        self.fast_re = re.compile(_FAST_CHECK) if fast else None
        self.embedded_rest = embedded_rest
        self.slow_check = slow_check
        self.mayReturnEmpty = False
        self.mayIndexError = False
        self.errmsg = MSG_CHECK
        _set_skip(self, True)

    def parseImpl(self, instring, loc, do_actions=True):
        start = loc
        end = _NOTS_RE.match(instring, loc).end()
        nots = instring.count("not", loc, end)
        loc = end
        if instring.startswith("not(", loc):
            nots += 1
            loc, toks = self.embedded_rest._parse(instring, loc + 4, do_actions)
        elif instring.startswith("(", loc):
            loc, toks = self.embedded_rest._parse(instring, loc + 1, do_actions)
        else:
            m = self.fast_re.match(instring, loc) if self.fast_re is not None else None
            if m is not None:
                node = _build_fast_check(m, loc)
                loc = m.end()
                return loc, [Not(node, start) if nots % 2 else node]
            loc, toks = self.slow_check._parse(instring, loc, do_actions)
        node = toks[0]
        return loc, [Not(node, start) if nots % 2 else node]


class _Nary(pp.Token):
    """``child { KEYWORD SEP child }`` building an n-ary And/Or (SEP: blanks, or a "(" group)."""

    def __init__(self, child, embedded_rest, keyword: str, node_cls) -> None:
        super().__init__()
        self.child = child
        self.embedded_rest = embedded_rest
        self.keyword = keyword
        self.node_cls = node_cls
        self.err = f"expected blank or '(' after '{keyword}'"
        self.mayReturnEmpty = False
        self.mayIndexError = False
        _set_skip(self, True)

    def parseImpl(self, instring, loc, do_actions=True):
        loc, toks = self.child._parse(instring, loc, do_actions)
        nodes = [toks[0]]
        kw, kwlen, n = self.keyword, len(self.keyword), len(instring)
        while True:
            j = loc
            while j < n and instring[j] in BLANKS:
                j += 1
            if not instring.startswith(kw, j):
                break
            j += kwlen
            if j < n and instring[j] in BLANKS:
                loc, toks = self.child._parse(instring, j, do_actions)
            elif instring.startswith("(", j):
                loc, toks = self.embedded_rest._parse(instring, j + 1, do_actions)
            else:
                raise pp.ParseFatalException(instring, j, self.err, self)
            nodes.append(toks[0])
        if len(nodes) == 1:
            return loc, [nodes[0]]
        return loc, [self.node_cls(tuple(nodes), nodes[0].pos)]


class _Op:
    __slots__ = ("op",)

    def __init__(self, op: str) -> None:
        self.op = op


class _Mod:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _TArg:
    __slots__ = ("arg",)

    def __init__(self, arg: str) -> None:
        self.arg = arg


_ITEM_RE = re.compile(r"(" + _BARE + r")|\"([^\"\\]*)\"|'([^'\\]*)'")


def _list_from_text(text: str, loc: int) -> ListValue:
    items = []
    for im in _ITEM_RE.finditer(text, 1):
        bare = im.group(1)
        if bare is not None:
            items.append(Value(bare, False, loc + im.start()))
        else:
            text = im.group(2) if im.group(2) is not None else im.group(3)
            items.append(Value(text, True, loc + im.start()))
    return ListValue(tuple(items), loc)


def _build_transformer(s, loc, t):
    name, tpos = t[0]
    args = []
    arg = None
    for tok in t[1:]:
        if isinstance(tok, _TArg):
            arg = tok.arg
        else:
            args.append(tok)
    return Transformer(name, tuple(args), arg, tpos)


def _build_check(s, loc, t):
    lhs = t[0]
    op = t[1].op
    if len(t) == 2:
        return Check(lhs, op, None, None, lhs.pos)
    if isinstance(t[2], _Mod):
        return Check(lhs, op, t[3], t[2].name, lhs.pos)
    return Check(lhs, op, t[2], None, lhs.pos)


_GRAMMAR: pp.ParserElement | None = None


def _grammar() -> pp.ParserElement:
    global _GRAMMAR
    if _GRAMMAR is None:
        _GRAMMAR = _build_grammar()
    return _GRAMMAR


# ----------------------------------------------------------------- depth

_QUOTED_RE = re.compile(r"\"(?:[^\"]|(?<=\\)\")*\"|'(?:[^']|(?<=\\)')*'")
# libsinsp's recursion guard counts its parse functions; one parenthesis level
# costs about five of them (check, group, or, and, not), the innermost check two more.
_DEPTH_PER_PAREN = 5
_DEPTH_BASE = 6


def _paren_depth(text: str) -> int:
    stripped = _QUOTED_RE.sub("", text) if ("'" in text or '"' in text) else text
    depth = best = 0
    for ch in stripped:
        if ch == "(":
            depth += 1
            if depth > best:
                best = depth
        elif ch == ")":
            depth -= 1
    return best


def _last_token(text: str, end: int, node: Node) -> str:
    """The last token libsinsp would have lexed before ``end`` (for the trailing-input error)."""
    i = end
    while i > 0 and text[i - 1] in BLANKS:
        i -= 1
    if i > 0 and text[i - 1] == ")":
        return ")"
    while isinstance(node, (And, Or, Not)):
        node = node.children[-1] if isinstance(node, (And, Or)) else node.child
    if isinstance(node, MacroRef):
        return node.name
    if isinstance(node, Check):
        if node.rhs is None:
            return node.op
        if isinstance(node.rhs, Value):
            return node.rhs.text
        if isinstance(node.rhs, Transformer) and node.rhs.arg is not None:
            return "]"
        return ")"
    return text[max(0, i - 1) : i]


# ------------------------------------------------------------------ API


def parse_condition(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Node:
    """Parse a condition (lists already substituted) into an AST; raises :class:`ParseError`."""
    return _parse_cached(text, max_depth)


@lru_cache(maxsize=4096)
def _parse_cached(text: str, max_depth: int) -> Node:
    if not text:
        raise ParseError("filter input string is empty", 0, 1, 1)
    parens = text.count("(")
    if parens and _DEPTH_PER_PAREN * parens + _DEPTH_BASE >= max_depth:
        if _DEPTH_PER_PAREN * _paren_depth(text) + _DEPTH_BASE >= max_depth:
            raise ParseError(f"exceeded max depth limit of {max_depth}", 0, 1, 1)
    old_limit = sys.getrecursionlimit()
    need = 400 + 60 * parens
    if need > old_limit:
        sys.setrecursionlimit(need)
    try:
        result = _grammar().parse_string(text)
    except pp.ParseBaseException as exc:
        line, col = line_col(text, exc.loc)
        raise ParseError(exc.msg, exc.loc, line, col) from None
    except RecursionError:
        raise ParseError(f"exceeded max depth limit of {max_depth}", 0, 1, 1) from None
    finally:
        if need > old_limit:
            sys.setrecursionlimit(old_limit)
    node, end = result[0], result[-1].loc
    if end != len(text):
        line, col = line_col(text, end)
        raise ParseError(
            f"unexpected token after '{_last_token(text, end, node)}', expecting 'or', 'and'",
            end,
            line,
            col,
        )
    return node
