"""Load results: Falco's error and warning codes, locations, and the -V reports.

Every problem found while reading or compiling rules files becomes a
:class:`LoadMessage` (never an exception escaping to the user). A message
carries Falco's code, its message text and the *context*: the chain of
locations (outermost first) that led to the problem, e.g.
``rules content -> rule 'x' -> rule condition -> condition expression``.

Positions inside the YAML are 0-based, as Falco prints them. A ``condition
expression`` location is named after the first characters of the condition
and its position is the parser's offset added to the condition's position,
exactly as Falco computes it. The human friendly ``line``/``column`` (1-based)
of a message are those of its innermost location inside the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --- codes, in Falco's order (falco_load_result) ----------------------------

ERROR_CODES: dict[str, tuple[str, str]] = {
    # code: (short string, long description)
    "LOAD_ERR_FILE_READ": (
        "File read error",
        "This occurs when falco can not read a given file. Check permissions and whether the file exists.",
    ),
    "LOAD_ERR_YAML_PARSE": ("YAML parse error", "This occurs when the rules content is not valid YAML."),
    "LOAD_ERR_YAML_VALIDATE": (
        "Error validating internal structure of YAML file",
        "This occurs when the internal structure of the YAML file is incorrect. Examples include not consisting "
        "of a sequence of maps, a given rule/macro/list item not having required keys, values not having the "
        "right type (e.g. the items property of a list not being a sequence), etc.",
    ),
    "LOAD_ERR_COMPILE_CONDITION": (
        "Error compiling condition",
        "This occurs when a condition string can not be compiled to a filter object.",
    ),
    "LOAD_ERR_COMPILE_OUTPUT": (
        "Error compiling output",
        "This occurs when an output string can not be compiled to an output object.",
    ),
    "LOAD_ERR_VALIDATE": (
        "Error validating rule/macro/list/exception objects",
        "This occurs when a rule/macro/list item is incorrect. Examples include a condition field referring to "
        "an undefined macro, falco engine/plugin version mismatches, items with append without any existing "
        "item, exception fields/comps having different lengths, etc.",
    ),
    "LOAD_ERR_EXTENSION": ("Error in extension item", "This occurs when there is an error in an extension item"),
}

WARNING_CODES: dict[str, tuple[str, str]] = {
    "LOAD_UNKNOWN_SOURCE": (
        "Unknown event source",
        "A rule has a unknown event source. This can occur when reading rules content without having a "
        "corresponding plugin loaded, etc. The rule will be silently ignored.",
    ),
    "LOAD_UNSAFE_NA_CHECK": (
        "Unsafe <NA> comparison in condition",
        "Comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule "
        "condition. If you need to check for the existence of a field, consider using the 'exists' operator "
        "instead.",
    ),
    "LOAD_NO_EVTTYPE": (
        "Condition has no event-type restriction",
        "A rule condition matches too many evt.type values. This has a significant performance penalty. Make "
        "the condition more specific by adding an evt.type field or further restricting the number of evt.type "
        "values in the condition.",
    ),
    "LOAD_UNKNOWN_FILTER": (
        "Unknown field or event-type in condition or output",
        "A rule condition or output refers to a field or evt.type that does not exist. This is normally an "
        "error, but if a rule has a skip-if-unknown-filter property, the error is downgraded to a warning.",
    ),
    "LOAD_UNUSED_MACRO": (
        "Unused macro",
        "A macro is defined in the rules content but is not used by any other macro or rule.",
    ),
    "LOAD_UNUSED_LIST": (
        "Unused list",
        "A list is defined in the rules content but is not used by any other list, macro, or rule.",
    ),
    "LOAD_UNKNOWN_ITEM": (
        "Unknown rules file item",
        "An unknown top-level object is in the rules content. It will be ignored.",
    ),
    "LOAD_DEPRECATED_ITEM": (
        "Used deprecated item",
        "A deprecated item is employed by lists, macros, or rules.",
    ),
    "LOAD_WARNING_EXTENSION": ("Warning in extension item", "An extension item has a warning"),
    "LOAD_APPEND_NO_VALUES": (
        "Overriding/appending with no values",
        "A rule exception is overriding/appending with no values",
    ),
    "LOAD_EXCEPTION_NAME_NOT_UNIQUE": (
        "Multiple exceptions defined with the same name",
        "A rule is defining multiple exceptions with the same name",
    ),
    "LOAD_INVALID_MACRO_NAME": ("Invalid macro name", "A macro is defined with an invalid name"),
    "LOAD_INVALID_LIST_NAME": ("Invalid list name", "A list is defined with an invalid name"),
    "LOAD_COMPILE_CONDITION": (
        "Warning in rule condition",
        "A rule condition or output have been parsed with a warning",
    ),
    "LOAD_UNKNOWN_KEY": (
        "Unknown key in item definition",
        "An item in the rules content contains an unrecognized key. The key will be ignored. This may indicate "
        "a typo or a property placed on the wrong item type.",
    ),
}

SNIPPET_WIDTH = 160


def _reduce(self):
    # Pickle as a constructor call (the read cache stores many contexts): much faster to load than
    # the frozen-slots default, which calls dataclasses.fields() per object.
    return self.__class__, tuple([getattr(self, name) for name in self.__slots__])


@dataclass(frozen=True, slots=True)
class Location:
    """One step of a context chain. ``name`` is the file, or the quoted start of a condition."""

    __reduce__ = _reduce

    item_type: str
    item_name: str
    name: str
    line: int = 0  # 0-based, as Falco prints them
    column: int = 0
    offset: int = 0

    def as_dict(self) -> dict:
        return {
            "item_type": self.item_type,
            "item_name": self.item_name,
            "position": {"name": self.name, "line": self.line, "column": self.column, "offset": self.offset},
        }


@dataclass(frozen=True, slots=True)
class ScalarSource:
    """A scalar as it appears in the file, to map a position in its value back to line/column."""

    __reduce__ = _reduce

    value: str
    raw: str  # the file text from the scalar's start mark to its end mark
    line: int  # 0-based start
    column: int
    style: str | None  # None (plain), "'", '"', "|", ">"

    def locate(self, pos: int) -> tuple[int, int] | None:
        raw, style = self.raw, self.style or None  # libyaml says "" for plain, the Python parser None
        if style in (None, "'", '"'):
            if "\n" in raw or "\r" in raw:
                return None
            inner = raw if style is None else raw[1:-1]
            if inner != self.value:  # escapes or '' shift the offsets
                return None
            return self.line, self.column + pos + (0 if style is None else 1)
        if style in ("|", ">"):
            lines = raw.split("\n")[1:]  # the first line holds the indicator
            body = [ln for ln in lines if ln.strip()]
            if not body:
                return None
            indent = min(len(ln) - len(ln.lstrip(" ")) for ln in body)
            while lines and not lines[-1].strip():
                lines.pop()
            parts = [ln[indent:] for ln in lines]
            if ("\n" if style == "|" else " ").join(parts) != self.value.rstrip("\n"):
                return None  # blank or more-indented lines fold differently: no exact mapping
            acc = 0
            for k, part in enumerate(parts):
                if pos <= acc + len(part):
                    return self.line + 1 + k, indent + pos - acc
                acc += len(part) + 1
        return None


@dataclass(frozen=True, slots=True)
class Context:
    """The chain of locations, outermost first; ``alt_content`` is the condition text for expression contexts."""

    __reduce__ = _reduce

    locations: tuple[Location, ...]
    alt_content: str | None = None
    source: ScalarSource | None = None  # where a condition scalar sits in the file (for exact positions)
    exact: tuple[int, int] | None = None  # 0-based (line, column) in the file of an expression error

    @classmethod
    def root(cls, filename: str) -> Context:
        return cls((Location("rules content", "", filename),))

    def child(self, item_type: str, item_name: str = "", line: int = 0, column: int = 0, offset: int = 0) -> Context:
        loc = Location(item_type, item_name, self.filename, line, column, offset)
        return Context(self.locations + (loc,))

    def with_source(self, source: ScalarSource) -> Context:
        return Context(self.locations, self.alt_content, source, self.exact)

    def expression(
        self, condition: str, pos: int, line: int, col: int, original: tuple[str, int] | None = None
    ) -> Context:
        """A location inside a condition: Falco adds the parser position to the condition's own.

        ``original`` is the condition as written and the position mapped back into it (before list
        substitution), from which the exact place in the file is found when possible."""
        short = '"' + (condition[:17] + '..."' if len(condition) > 20 else condition + '"')
        short = short.replace("\n", " ").replace("\r", " ")
        last = self.locations[-1]
        loc = Location("condition expression", "", short, last.line + line, last.column + col, last.offset + pos)
        exact = None
        text0, pos0 = original if original is not None else (condition, pos)
        src = self.source
        if src is not None and 0 <= pos0 <= len(src.value) and text0[:pos0] == src.value[:pos0]:
            exact = src.locate(pos0)  # the text before the error is the file's, as written
        return Context(self.locations + (loc,), alt_content=condition, exact=exact)

    @property
    def filename(self) -> str:
        return self.locations[0].name

    def file_location(self) -> Location:
        """The innermost location that points into the file (not into a condition)."""
        for loc in reversed(self.locations):
            if loc.item_type != "condition expression":
                return loc
        return self.locations[0]

    def as_text(self) -> str:
        out = []
        for i, loc in enumerate(self.locations):
            head = "In " if i == 0 else "    "
            name = f" '{loc.item_name}'" if loc.item_name else ""
            out.append(f"{head}{loc.item_type}{name}: ({loc.name}:{loc.line}:{loc.column})\n")
        return "".join(out)

    def snippet(self, contents: dict[str, str]) -> str:
        last = self.locations[-1]
        if self.alt_content is not None:
            text = self.alt_content
        else:
            if last.name not in contents:
                return f"<No context for file + {last.name}>\n"
            text = contents[last.name]
        return make_snippet(text, last.offset)


def make_snippet(text: str, offset: int, width: int = SNIPPET_WIDTH) -> str:
    """The line holding ``offset`` (at most ``width`` chars around it) and a caret under the position."""
    if not text:
        return "<No context available>\n"
    pos = offset
    # A mark can sit past the end (dangling "tags:") or on a newline: walk back to real text.
    while pos > 0 and (pos >= len(text) or text[pos] == "\n"):
        pos -= 1
    half = width // 2
    start = pos
    while start > 0 and text[start] != "\n" and (pos - start) < half:
        start -= 1
    end = pos
    while end < len(text) - 1 and text[end] != "\n" and (end - pos) < half:
        end += 1
    if start < len(text) and text[start] == "\n":
        start += 1
    if end < len(text) and text[end] == "\n":
        end -= 1
    line = text[start : end + 1]
    if not line:
        return "<No context available>\n"
    if pos - start >= half:
        line = "..." + line[3:]
    if end - pos >= half:
        line = line[:-3] + "..."
    out = line + "\n"
    if pos - start <= len(out) - 1:
        out += " " * (pos - start) + "^\n"
    return out


@dataclass(slots=True)
class LoadMessage:
    """One error or warning of a rules load, with the place in the rules file it refers to."""

    code: str
    message: str
    context: Context
    is_error: bool
    deprecated_field: str | None = None

    @property
    def short(self) -> str:
        table = ERROR_CODES if self.is_error else WARNING_CODES
        return table[self.code][0]

    @property
    def codedesc(self) -> str:
        # Falco's JSON gives errors their short string (an upstream quirk), warnings their long description.
        return ERROR_CODES[self.code][0] if self.is_error else WARNING_CODES[self.code][1]

    @property
    def file(self) -> str:
        return self.context.filename

    @property
    def line(self) -> int:
        """1-based line in the file (0 when the whole file is meant); inside a condition, the line of
        the error itself when it can be mapped back to the file."""
        if self.context.exact is not None:
            return self.context.exact[0] + 1
        loc = self.context.file_location()
        return loc.line + 1 if len(self.context.locations) > 1 else 0

    @property
    def column(self) -> int:
        if self.context.exact is not None:
            return self.context.exact[1] + 1
        loc = self.context.file_location()
        return loc.column + 1 if len(self.context.locations) > 1 else 0

    def one_line(self) -> str:
        """``file:line:col: CODE: message`` for terminals and logs."""
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.code}: {self.message}"

    def verbose(self, contents: dict[str, str]) -> str:
        return (
            self.context.as_text()
            + "------\n"
            + self.context.snippet(contents)
            + "------\n"
            + f"{self.code} ({self.short}): {self.message}\n"
        )

    def as_json(self, contents: dict[str, str]) -> dict:
        ctx = {"locations": [loc.as_dict() for loc in self.context.locations], "snippet": self.context.snippet(contents)}
        out = {"code": self.code, "codedesc": self.codedesc, "context": ctx, "message": self.message}
        if self.deprecated_field:
            out["deprecated_field"] = self.deprecated_field
        return out


class RuleLoadError(Exception):
    """Raised inside the loader to stop reading a file at its first error (never escapes the engine)."""

    def __init__(self, code: str, message: str, context: Context):
        super().__init__(message)
        self.code = code
        self.message = message
        self.context = context


@dataclass(slots=True)
class FileResult:
    """The result of loading one rules file (Falco's rule_loader::result)."""

    name: str
    content: str = ""
    errors: list[LoadMessage] = field(default_factory=list)
    warnings: list[LoadMessage] = field(default_factory=list)
    schema_warnings: list[str] = field(default_factory=list)

    @property
    def successful(self) -> bool:
        return not self.errors

    def add_error(self, code: str, message: str, context: Context) -> None:
        assert code in ERROR_CODES, code
        self.errors.append(LoadMessage(code, message, context, True))

    def add_warning(self, code: str, message: str, context: Context, deprecated_field: str | None = None) -> None:
        assert code in WARNING_CODES, code
        self.warnings.append(LoadMessage(code, message, context, False, deprecated_field))

    def status(self) -> str:
        if not self.successful:
            return "Invalid"
        return "Ok, with warnings" if self.warnings else "Ok"

    def verbose_text(self, contents: dict[str, str]) -> str:
        out = [f"{self.name}: {self.status()}"]
        if self.errors:
            out.append(f"\n{len(self.errors)} Errors:\n")
            out.extend(m.verbose(contents) for m in self.errors)
        if self.warnings:
            out.append(f"\n{len(self.warnings)} Warnings:\n")
            out.extend(m.verbose(contents) for m in self.warnings)
        if self.schema_warnings:
            out.append(f"\n{len(self.schema_warnings)} Schema warnings:\n")
            out.extend(w + "\n" for w in self.schema_warnings)
        return "".join(out)

    def summary_text(self) -> str:
        out = f"{self.name}: {self.status()}"
        if self.errors:
            out += f"\n {len(self.errors)} errors: [" + " ".join(f"{m.code} ({m.short})" for m in self.errors) + "]"
        if self.warnings:
            out += f"\n {len(self.warnings)} warnings: [" + " ".join(f"{m.code} ({m.short})" for m in self.warnings) + "]"
        return out

    def as_json(self, contents: dict[str, str]) -> dict:
        return {
            "name": self.name,
            "successful": self.successful,
            "schema_valid": not self.schema_warnings,
            "schema_warnings": list(self.schema_warnings),
            "errors": [m.as_json(contents) for m in self.errors],
            "warnings": [m.as_json(contents) for m in self.warnings],
        }


@dataclass(slots=True)
class LoadResult:
    """What ``RuleEngine.load_files``/``load_text`` return: one :class:`FileResult` per file, in load order."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.successful for f in self.files)

    @property
    def errors(self) -> list[LoadMessage]:
        return [m for f in self.files for m in f.errors]

    @property
    def warnings(self) -> list[LoadMessage]:
        return [m for f in self.files for m in f.warnings]

    @property
    def contents(self) -> dict[str, str]:
        return {f.name: f.content for f in self.files}

    def report_text(self) -> str:
        """What ``falco -V`` prints on stdout (text mode): the verbose block of an invalid or clean file,
        ``<file>: Ok, with warnings`` for a file that only has warnings (see :meth:`log_text`)."""
        contents = self.contents
        out = []
        for f in self.files:
            if f.successful and f.warnings:
                out.append(f"{f.name}: Ok, with warnings\n")
            else:
                out.append(f.verbose_text(contents).rstrip("\n") + "\n")
        return "".join(out)

    def log_text(self) -> str:
        """The verbose warnings Falco logs on stderr for files that loaded with warnings."""
        contents = self.contents
        return "".join(f.verbose_text(contents) for f in self.files if f.successful and f.warnings)

    def verbose_text(self) -> str:
        contents = self.contents
        return "".join(f.verbose_text(contents) for f in self.files)

    def report_json(self, describe: dict | None = None) -> str:
        """Falco's ``-V`` JSON (``json_output: true``): ``{"falco_load_results": [...]}``."""
        contents = self.contents
        doc: dict = {"falco_load_results": [f.as_json(contents) for f in self.files]}
        if describe is not None:
            doc["falco_describe_results"] = describe
        import json  # -V with json_output only: a run does not import json for it

        return json.dumps(doc)
