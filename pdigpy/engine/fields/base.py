"""The contract between field classes and the condition compiler.

A field class module (evt, proc, thread, user, group, fd, fs, container, k8s)
registers :class:`FieldInfo` rows with a factory. ``FieldRegistry.bind`` turns
a field reference and its argument into a :class:`BoundField` whose
``extract(evt)`` returns the value or ``None`` when it cannot be extracted
(Falco's missing value: every comparison on it is false).

Value types returned by ``extract``:

===========  ===============================================
type         Python value
===========  ===============================================
string       str (os.fsdecode'd; may hold surrogate escapes)
int, uint    int (also ERRNO, FD, PID, MODE, FLAGS, UID ...)
bool         bool
ipaddr       ipaddress.IPv4Address | IPv6Address
ipnet        ipaddress.IPv4Network | IPv6Network
port         int
bytebuf      bytes
abstime      int (ns since epoch)
reltime      int (ns)
===========  ===============================================

``is_list`` fields return a list of such values (fd.types; and the
ancestor/endpoint fields below, as lists). Two kinds of list semantics are
not Falco list types and are flagged instead:

- ``any_of``: proc.aname, proc.apid, ... without an argument: the check is
  true if it holds for *any* element (ancestors from the parent up). In an
  output they print space-joined.
- ``either``: fd.ip, fd.port, fd.net, fd.proto: ``=``/``in`` true if either
  endpoint matches, ``!=`` true only if both differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from pdigpy.events.model import Event

# FieldInfo.flags
NO_TRANSFORMER = "no_transformer"  # proc.aname, fd.ip ... cannot be wrapped
NO_RHS = "no_rhs"  # cannot be used in val()/field-to-field comparisons
FILTER_ONLY = "filter_only"  # fd.ip, fd.net ...: conditions only, not outputs
DEPRECATED = "deprecated"  # evt.dir, evt.latency ...: LOAD_DEPRECATED_ITEM warning


class FieldError(Exception):
    """An unknown field or a bad argument; the message is Falco's wording."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What a field is (name, type, argument, flags): the row ``--list`` shows."""

    name: str  # "proc.aname"; dotted-suffix fields register their prefix ("evt.arg")
    type: str  # see the table above
    desc: str
    arg: str = "none"  # "none" | "allowed" | "required"
    arg_kind: str = ""  # "index" | "key" | "" (what --list shows)
    flags: frozenset[str] = frozenset()
    is_list: bool = False
    field_class: str = ""  # "evt", "process", "user", "group", "fd", "fs", "container", "k8s"


@dataclass(slots=True)
class BoundField:
    """A field bound to its argument, with the closure that extracts its value from an event."""

    info: FieldInfo
    arg: str | None
    extract: Callable[[Event], Any]  # hot path: a closure, no per-call lookups
    type: str  # usually info.type; may depend on the argument (evt.rawarg.NAME)
    is_list: bool = False
    any_of: bool = False
    either: bool = False
    display: Callable[[Event], str] | None = None  # output rendering when it differs from str(value)
    extra: dict[str, Any] = field(default_factory=dict)
