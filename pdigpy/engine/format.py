"""Falco's output formatting: rule output templates, the text alert line, the JSON alert object.

Three layers, each usable on its own:

- :class:`OutputFormatter` compiles a rule's ``output`` template once (``%field``,
  ``%field[arg]``, ``%20field``, ``%transformer(field)``) and renders it per alert into the
  message text and the typed ``output_fields`` (Falco's JSON typing: strings, ints, bools,
  null; time fields as ns integers).
- :func:`alert_to_text` and :func:`alert_to_json` turn an :class:`~pdigpy.engine.alert.Alert`
  into the exact line Falco prints (text) or emits (``json_output: true``).
- :func:`parse_append_output` / :func:`append_output_for` implement falco.yaml's
  ``append_output`` list (``extra_output``, ``extra_fields``, ``suggested_output``).

Encoding choice (Falco <= 0.44 behaviour): the text line is emitted as is; field values have
invalid UTF-8 and non-printable control characters replaced by U+FFFD when they are rendered,
so an alert is always one line of valid UTF-8. The JSON object is serialised like nlohmann's
``dump()``: compact, keys sorted, raw UTF-8, invalid UTF-8 replaced by U+FFFD.
"""

from __future__ import annotations

import _socket  # not socket: its IntEnum conversions cost ~3 ms of every start
import ipaddress
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pdigpy.engine.fields.base import FILTER_ONLY, FieldError

if TYPE_CHECKING:
    from pdigpy.engine.alert import Alert
    from pdigpy.engine.fields.base import BoundField
    from pdigpy.events.model import Event

NA = "<NA>"

# ---------------------------------------------------------------------------
# Time strings
# ---------------------------------------------------------------------------


def time_local(ns: int) -> str:
    """``%evt.time``: local time of day with nine fraction digits, ``15:41:04.268296715``."""
    return time.strftime("%H:%M:%S", time.localtime(ns // 1_000_000_000)) + ".%09d" % (ns % 1_000_000_000)


def time_iso8601(ns: int) -> str:
    """``%evt.time.iso8601``: UTC, ``2016-08-04T16:17:57.881781397+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + ".%09d+0000" % (ns % 1_000_000_000)


def time_json(ns: int) -> str:
    """The JSON ``time`` key: UTC with nine fraction digits and ``Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + ".%09dZ" % (ns % 1_000_000_000)


_hostname: str | None = None


def default_hostname() -> str:
    """``FALCO_HOSTNAME`` if set, else gethostname(); computed once."""
    global _hostname
    if _hostname is None:
        _hostname = os.environ.get("FALCO_HOSTNAME") or _socket.gethostname()
    return _hostname


# ---------------------------------------------------------------------------
# String hygiene
# ---------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x1f\x7f]")


def valid_utf8(text: str) -> str:
    """The text with undecodable bytes (surrogate escapes, lone surrogates) as U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def printable_value(text: str) -> str:
    """A field value as Falco <= 0.44 prints it: invalid UTF-8 and control chars become U+FFFD."""
    if text.isprintable():
        return text
    return _CONTROL.sub("\ufffd", valid_utf8(text))


# ---------------------------------------------------------------------------
# Alert text line and JSON object
# ---------------------------------------------------------------------------


def alert_prefix(alert: Alert, time_format_iso_8601: bool = False) -> str:
    stamp = time_iso8601(alert.time_ns) if time_format_iso_8601 else time_local(alert.time_ns)
    return f"{stamp}: {alert.priority.label}"


def alert_to_text(alert: Alert, time_format_iso_8601: bool = False) -> str:
    """Falco's text alert line: ``<evt.time>: <Priority> <output>`` (no newline)."""
    return f"{alert_prefix(alert, time_format_iso_8601)} {valid_utf8(alert.output)}"


def prefix_time_key(time_format_iso_8601: bool = False) -> str:
    """The output_fields key of the prefix time field, merged into every JSON alert."""
    return "evt.time.iso8601" if time_format_iso_8601 else "evt.time"


def _json_clean(value: Any) -> Any:
    if isinstance(value, str):
        return valid_utf8(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, bytes):
        return valid_utf8(os.fsdecode(value))
    if isinstance(value, float):
        return value
    return valid_utf8(str(value))  # ip addresses, networks


def alert_to_json(
    alert: Alert,
    include_output: bool = True,
    include_tags: bool = True,
    *,
    include_message: bool = False,
    include_output_fields: bool = True,
    time_format_iso_8601: bool = False,
) -> str:
    """Falco's JSON alert object, byte for byte (falco_formats::format_event, JSON branch).

    Keys are sorted at every level, the encoding is compact raw UTF-8. ``output_fields``
    always carries the prefix time field (``evt.time``, or ``evt.time.iso8601`` in ISO mode)
    as integer ns; ``tags`` are sorted. The ``include_*`` flags are falco.yaml's
    ``json_include_*_property`` keys.
    """
    obj: dict[str, Any] = {
        "hostname": valid_utf8(alert.hostname or default_hostname()),
        "priority": alert.priority.label,
        "rule": valid_utf8(alert.rule),
        "source": alert.source,
        "time": time_json(alert.time_ns),
    }
    if include_output:
        obj["output"] = alert_to_text(alert, time_format_iso_8601)
    if include_message:
        obj["message"] = valid_utf8(alert.output)
    if include_output_fields:
        fields = {k: _json_clean(v) for k, v in alert.output_fields.items()}
        if time_format_iso_8601 and "evt.time.iso8601" not in fields and fields.get("evt.time") == alert.time_ns:
            # Alert.output_fields always carries the default prefix field "evt.time"; in ISO mode
            # Falco's prefix field is evt.time.iso8601 instead. (A rule output that itself uses
            # %evt.time in ISO mode loses that key: an accepted inexactness.)
            del fields["evt.time"]
        fields.setdefault(prefix_time_key(time_format_iso_8601), alert.time_ns)
        obj["output_fields"] = fields
    if include_tags:
        obj["tags"] = sorted(set(valid_utf8(t) for t in alert.tags))
    import json  # here, once per alert: a run without json_output never loads json

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------
# Output templates
# ---------------------------------------------------------------------------


class FormatError(FieldError):
    """A rule output that does not compile (Falco's LOAD_ERR_COMPILE_OUTPUT); Falco's wording."""


_FIELD_LEX = re.compile(r"[A-Za-z0-9_.\-]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WIDTH = re.compile(r"[0-9]+")
# Lexing only; the table itself is pdigpy.engine.transformers.TRANSFORMERS (imported when used).
TRANSFORMER_NAMES = frozenset({"tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt"})
DEPRECATED_EMPTY = "container.info"  # replaced by the empty string (Falco >= 0.41)


def buffer_to_text(data: bytes, base64: bool = False) -> str:
    """evt.buffer as Falco prints it: printable ASCII kept, other bytes as '.'; or base64."""
    if base64:
        import base64 as b64mod

        return b64mod.b64encode(data).decode("ascii")
    return "".join(chr(b) if 32 <= b < 127 else "." for b in data)


@dataclass(slots=True)
class _Token:
    """One piece of an output format: how to render it and the output fields it contributes."""

    key: str | None  # output_fields key ("proc.aname[2]"); None for a transformer token
    text: Callable[[Event], str]
    fields: list[tuple[str, Callable[[Event], Any]]]  # (key, typed JSON value) contributed
    width: int = 0


def _field_key(name: str, arg: str | None) -> str:
    return name if arg is None else f"{name}[{arg}]"


def _text_of(bf: BoundField, base64: bool) -> Callable[[Event], str]:
    """Output-text renderer of a bound field, chosen once per token."""
    if bf.display is not None:
        display = bf.display
        return lambda e: printable_value(display(e))
    extract = bf.extract
    if bf.is_list:
        def list_text(e: Event) -> str:
            v = extract(e)
            if v is None:
                return NA
            return "(" + ",".join(_scalar_text(x, base64) for x in v) + ")"

        return list_text
    ftype = bf.type
    if ftype == "string":
        def str_text(e: Event) -> str:
            v = extract(e)
            if v is None:
                return NA
            return printable_value(v) if isinstance(v, str) else _scalar_text(v, base64)

        return str_text
    return lambda e: _scalar_text(extract(e), base64)


def _scalar_text(v: Any, base64: bool) -> str:
    if v is None:
        return NA
    if isinstance(v, str):
        return printable_value(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (bytes, bytearray)):
        return buffer_to_text(bytes(v), base64)
    return str(v)


def _json_of(bf: BoundField, base64: bool) -> Callable[[Event], Any]:
    """Typed JSON value of a bound field (Falco's output_fields typing)."""
    custom = bf.extra.get("json") if bf.extra else None
    if custom is not None:
        return custom
    if bf.display is not None:  # any-of fields print space-joined
        display = bf.display

        def shown(e: Event) -> Any:
            s = display(e)
            return None if s == NA else printable_value(s)

        return shown
    extract = bf.extract
    if bf.is_list:
        return lambda e: (None if (v := extract(e)) is None else [_scalar_json(x, base64) for x in v])
    return lambda e: _scalar_json(extract(e), base64)


def _scalar_json(v: Any, base64: bool) -> Any:
    if v is None or isinstance(v, (bool, int)):
        return v
    if isinstance(v, str):
        return printable_value(v)
    if isinstance(v, (bytes, bytearray)):
        return buffer_to_text(bytes(v), base64)
    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(v)
    return str(v)


def _transformer_fn(name: str, arg: str | None) -> Callable[..., Any]:
    """The transformer ``name`` (pdigpy.engine.transformers), bound to its optional [arg]."""
    from pdigpy.engine import transformers

    if name not in transformers.TRANSFORMERS:
        raise FormatError(f"unknown transformer '{name}' in output")
    apply = transformers.apply
    return lambda *vals: apply(name, *vals, arg=arg)


class _TemplateParser:
    """Splits an output template into literal text and field/transformer tokens."""

    def __init__(self, template: str, registry: Any, base64: bool) -> None:
        self.s = template
        self.reg = registry
        self.base64 = base64

    def parse(self) -> list[str | _Token]:
        s = self.s
        parts: list[str | _Token] = []
        lit: list[str] = []
        i = 0
        n = len(s)
        while i < n:
            j = s.find("%", i)
            if j < 0:
                lit.append(s[i:])
                break
            lit.append(s[i:j])
            if j == n - 1:
                raise FormatError("formatting cannot end with a %")
            i = j + 1
            width = 0
            m = _WIDTH.match(s, i)
            if m:
                width = int(m.group())
                i = m.end()
            tok, i, literal = self._token(i)
            if literal is not None:
                lit.append(literal)
                continue
            tok.width = width
            if lit:
                parts.append("".join(lit))
                lit = []
            parts.append(tok)
        if lit:
            parts.append("".join(lit))
        return parts

    # A transformer expression: name(arg, ...) with fields, nested transformers or quoted strings.
    def _token(self, i: int) -> tuple[_Token | None, int, str | None]:
        s = self.s
        m = _IDENT.match(s, i)
        if m and m.group() in TRANSFORMER_NAMES and m.end() < len(s) and s[m.end()] == "(":
            value, fields, end, label = self._transformer(i)
            return _Token(None, lambda e, v=value: _scalar_text(v(e), self.base64), fields), end, None
        name, arg, end = self._field_lexeme(i)
        if name == DEPRECATED_EMPTY and arg is None:
            return None, end, ""
        bf, name, arg, end = self._bind_longest(i, name, arg, end)
        key = _field_key(name, arg)
        return _Token(key, _text_of(bf, self.base64), [(key, _json_of(bf, self.base64))]), end, None

    def _field_lexeme(self, i: int) -> tuple[str, str | None, int]:
        s = self.s
        m = _FIELD_LEX.match(s, i)
        if not m:
            rest = s[i:].split(" ", 1)[0]
            raise FormatError(f"unknown filter: {rest or '%'}")
        name = m.group().rstrip("-")
        end = i + len(name)
        arg = None
        if end < len(s) and s[end] == "[":
            close = s.find("]", end + 1)
            if close > end:
                arg = s[end + 1 : close]
                end = close + 1
        return name, arg, end

    def _bind_longest(self, start: int, name: str, arg: str | None, end: int):
        """Falco's rule: the longest prefix of the lexeme that compiles as a field."""
        first_error: Exception | None = None
        for cut in range(len(name), 0, -1):
            cand = name[:cut]
            cand_arg = arg if cut == len(name) else None
            cand_end = end if cut == len(name) else start + cut
            try:
                bf = self.reg.bind(cand, cand_arg)
            except FieldError as exc:
                if first_error is None:
                    first_error = exc
                continue
            if FILTER_ONLY in bf.info.flags:
                raise FormatError(f"{_field_key(cand, cand_arg)} is filter only and cannot be used as a display field")
            return bf, cand, cand_arg, cand_end
        msg = str(first_error) if first_error is not None else f"unknown filter: {name}"
        if "nonexistent field" in msg:
            msg = f"unknown filter: {_field_key(name, arg)}"
        raise FormatError(msg)

    def _transformer(self, i: int):
        """Parses ``name(args...)`` at i; returns (value fn, contributed fields, end, label)."""
        s = self.s
        m = _IDENT.match(s, i)
        tname = m.group()
        i = m.end() + 1  # past "("
        values: list[Callable[[Event], Any]] = []
        fields: list[tuple[str, Callable[[Event], Any]]] = []
        targ: str | None = None
        while True:
            while i < len(s) and s[i] == " ":
                i += 1
            if i >= len(s):
                raise FormatError(f"unterminated transformer {tname}( in output")
            c = s[i]
            if c in "\"'":
                close = s.find(c, i + 1)
                if close < 0:
                    raise FormatError(f"unterminated string in transformer {tname}( in output")
                const = s[i + 1 : close]
                values.append(lambda e, c=const: c)
                i = close + 1
            else:
                m2 = _IDENT.match(s, i)
                if m2 and m2.group() in TRANSFORMER_NAMES and m2.end() < len(s) and s[m2.end()] == "(":
                    v, f, i, _ = self._transformer(i)
                    values.append(v)
                    fields.extend(f)
                else:
                    name, arg, end = self._field_lexeme(i)
                    bf, name, arg, end = self._bind_longest(i, name, arg, end)
                    from pdigpy.engine.fields.base import NO_TRANSFORMER

                    if NO_TRANSFORMER in bf.info.flags:
                        raise FormatError(f"field '{name}' does not support transformers")
                    values.append(bf.extract)
                    key = _field_key(name, arg)
                    fields.append((key, _json_of(bf, self.base64)))
                    i = end
            while i < len(s) and s[i] == " ":
                i += 1
            if i < len(s) and s[i] == ",":
                i += 1
                continue
            if i < len(s) and s[i] == ")":
                i += 1
                if i < len(s) and s[i] == "[":  # getopt(...)[c]
                    close = s.find("]", i + 1)
                    if close < 0:
                        raise FormatError(f"unterminated argument after transformer {tname}( in output")
                    targ = s[i + 1 : close]
                    i = close + 1
                break
            if i >= len(s):
                raise FormatError(f"unterminated transformer {tname}( in output")
            raise FormatError(f"expected ',' or ')' in transformer {tname}( in output")
        fn = _transformer_fn(tname, targ)
        if len(values) == 1:
            only = values[0]
            value = lambda e: fn(only(e))  # noqa: E731
        else:
            value = lambda e: fn(*[v(e) for v in values])  # noqa: E731
        return value, fields, i, tname


class OutputFormatter:
    """A compiled rule output: ``render(evt) -> (text, output_fields)``.

    ``extra_fields`` are falco.yaml ``append_output.extra_fields`` entries: a field name
    (typed value under that name) or ``{key: format}`` (formatted string under ``key``); they
    land only in ``output_fields``. ``buffer_format_base64`` renders byte buffers as base64.
    Raises :class:`FormatError` (Falco's message) when the template does not compile.
    """

    def __init__(self, template: str, registry: Any, extra_fields: Iterable[Any] = (),
                 buffer_format_base64: bool = False) -> None:
        self.template = template
        self._parts = _TemplateParser(template, registry, buffer_format_base64).parse()
        fields: dict[str, Callable[[Event], Any]] = {}
        names: set[str] = set()  # every field read, nested formats included
        for p in self._parts:
            if isinstance(p, _Token):
                for key, fn in p.fields:
                    fields.setdefault(key, fn)
                    names.add(key)
        for item in extra_fields:
            if isinstance(item, str):
                name, arg = item, None
                if item.endswith("]") and "[" in item:
                    name, arg = item[:-1].split("[", 1)
                bf = registry.bind(name, arg)
                fields[_field_key(name, arg)] = _json_of(bf, buffer_format_base64)
                names.add(_field_key(name, arg))
            elif isinstance(item, dict):
                for key, fmt in item.items():
                    sub = OutputFormatter(str(fmt), registry, (), buffer_format_base64)
                    fields[str(key)] = lambda e, sub=sub: sub.render_text(e)
                    names |= sub.field_names
            else:
                raise FormatError(f"append_output.extra_fields: entry {item!r} must be a field name or a mapping")
        self._fields = list(fields.items())
        self.field_names: frozenset[str] = frozenset(names)

    @property
    def field_keys(self) -> list[str]:
        return [k for k, _ in self._fields]

    def render_text(self, evt: Event) -> str:
        out = []
        for p in self._parts:
            if isinstance(p, str):
                out.append(p)
            else:
                v = p.text(evt)
                if p.width:
                    v = v[: p.width].ljust(p.width)
                out.append(v)
        return "".join(out)

    def render(self, evt: Event) -> tuple[str, dict[str, Any]]:
        return self.render_text(evt), {k: fn(evt) for k, fn in self._fields}


# ---------------------------------------------------------------------------
# append_output (falco.yaml)
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class AppendOutput:
    """One falco.yaml ``append_output`` entry."""

    source: str | None = None
    rule: str | None = None
    tags: tuple[str, ...] = ()
    extra_output: str = ""
    extra_fields: list[Any] = field(default_factory=list)
    suggested_output: bool = False

    def matches(self, rule: str, tags: Iterable[str], source: str = "syscall") -> bool:
        if self.source is not None and self.source != source:
            return False
        if self.rule is not None and self.rule != rule:
            return False
        if self.tags and not set(self.tags) <= set(tags):
            return False
        return True


DEFAULT_APPEND_OUTPUT: list[dict[str, Any]] = [{"suggested_output": True}]


def parse_append_output(value: Any, where: str = "append_output") -> list[AppendOutput]:
    """Validates falco.yaml's ``append_output`` list; ValueError names the bad key."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: must be a list of entries")
    out = []
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{here}: must be a mapping with match/extra_output/extra_fields/suggested_output")
        unknown = set(entry) - {"match", "extra_output", "extra_fields", "suggested_output"}
        if unknown:
            raise ValueError(f"{here}: unknown key {sorted(unknown)[0]!r}; use match, extra_output, extra_fields "
                             "or suggested_output")
        match = entry.get("match") or {}
        if not isinstance(match, dict):
            raise ValueError(f"{here}.match: must be a mapping with source, rule and/or tags")
        bad = set(match) - {"source", "rule", "tags"}
        if bad:
            raise ValueError(f"{here}.match: unknown key {sorted(bad)[0]!r}; use source, rule or tags")
        tags = match.get("tags") or []
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list):
            raise ValueError(f"{here}.match.tags: must be a list of strings")
        extra_fields = entry.get("extra_fields") or []
        if not isinstance(extra_fields, list):
            raise ValueError(f"{here}.extra_fields: must be a list of field names or {{key: format}} mappings")
        for j, item in enumerate(extra_fields):
            if not isinstance(item, (str, dict)):
                raise ValueError(f"{here}.extra_fields[{j}]: must be a field name or a {{key: format}} mapping")
        extra_output = entry.get("extra_output") or ""
        if not isinstance(extra_output, str):
            raise ValueError(f"{here}.extra_output: must be a string")
        suggested = entry.get("suggested_output", False)
        if not isinstance(suggested, bool):
            raise ValueError(f"{here}.suggested_output: must be true or false")
        out.append(AppendOutput(
            source=None if match.get("source") is None else str(match["source"]),
            rule=None if match.get("rule") is None else str(match["rule"]),
            tags=tuple(str(t) for t in tags),
            extra_output=extra_output,
            extra_fields=list(extra_fields),
            suggested_output=suggested,
        ))
    return out


def suggested_output_text(registry: Any) -> str:
    """``container_id=%container.id container_name=%container.name ...`` for suggested fields."""
    from pdigpy.engine.fields.container import suggested_fields

    return " ".join(f"{name.replace('.', '_')}=%{name}" for name in suggested_fields(registry))


def append_output_for(entries: Iterable[AppendOutput], rule: str, tags: Iterable[str], registry: Any,
                      source: str = "syscall") -> tuple[str, list[Any]]:
    """(text appended to the rule's output, extra_fields) for one rule, entries in order."""
    tags = list(tags)
    suffix: list[str] = []
    extra: list[Any] = []
    for entry in entries:
        if not entry.matches(rule, tags, source):
            continue
        if entry.extra_output:
            suffix.append(" " + entry.extra_output)
        if entry.suggested_output:
            suffix.append(" " + suggested_output_text(registry))
        extra.extend(entry.extra_fields)
    return "".join(suffix), extra


def rule_formatter(output: str, rule: str, tags: Iterable[str], registry: Any,
                   append: Iterable[AppendOutput] = (), source: str = "syscall",
                   buffer_format_base64: bool = False) -> OutputFormatter:
    """The formatter of one rule's output with falco.yaml's append_output applied."""
    suffix, extra = append_output_for(append, rule, tags, registry, source)
    return OutputFormatter(output + suffix, registry, extra, buffer_format_base64)
