"""Event-type index: which event types can a rule's condition possibly match?

Computed statically on the macro-expanded AST (Falco's ppm_codes resolver):

- ``evt.type``/``syscall.type`` with ``=``, ``==``, ``in`` gives the named set S,
  ``!=`` gives U \\ S; ``evt.type exists`` gives U (a restriction that negation
  turns into the empty set);
- ``evt.num`` checks that can never hold (``= 0``, ``< 1``, ...) give the empty
  set, tautologies (``> 0``, ``!= 0``, ...) give U;
- any other check is neutral (U), and stays U under negation;
- ``and`` intersects, ``or`` unites; under an odd number of ``not`` the two
  swap and non-neutral leaves are complemented.

A set is kept as names or as "all but names" (``complement``), so the universe
of event names is only needed when the tracer asks for a concrete list.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdigpy.engine.ast import And, Check, FieldRef, ListValue, Node, Not, Or, Value

_TYPE_FIELDS = ("evt.type", "syscall.type")


@dataclass(frozen=True, slots=True)
class EventTypes:
    """The event types a condition can match: ``names``, or every type but ``names``."""

    names: frozenset[str] = frozenset()
    complement: bool = False  # True: every event type except ``names``

    @property
    def is_all(self) -> bool:
        return self.complement and not self.names

    @property
    def is_empty(self) -> bool:
        return not self.complement and not self.names

    def __contains__(self, evtype: str) -> bool:
        return (evtype in self.names) != self.complement

    def invert(self) -> EventTypes:
        return EventTypes(self.names, not self.complement)

    def __and__(self, other: EventTypes) -> EventTypes:
        a, b = self, other
        if not a.complement and not b.complement:
            return EventTypes(a.names & b.names)
        if a.complement and b.complement:
            return EventTypes(a.names | b.names, True)
        if a.complement:
            a, b = b, a
        return EventTypes(a.names - b.names)  # finite a, co-finite b

    def __or__(self, other: EventTypes) -> EventTypes:
        return (self.invert() & other.invert()).invert()

    def materialize(self, universe: frozenset[str]) -> frozenset[str]:
        return universe - self.names if self.complement else self.names

    def describe(self) -> list[str]:
        """Sorted names, or ``["*"]``/``["*", "!x", ...]`` for complements (for -L and the docs)."""
        if self.complement:
            return ["*"] + ["!" + n for n in sorted(self.names)]
        return sorted(self.names)


ALL = EventTypes(frozenset(), True)
NONE = EventTypes()


def _num(text: str) -> int | None:
    try:
        return int(text.strip(), 10)
    except ValueError:
        return None


def _evt_num(check: Check) -> EventTypes | None:
    """evt.num is always >= 1: some checks on it are statically never/always true."""
    rhs = check.rhs
    if isinstance(rhs, ListValue) and check.op == "in":
        vals = [_num(v.text) for v in rhs.items]
        if all(v == 0 for v in vals):  # also in ()
            return NONE
        return None
    if not isinstance(rhs, Value):
        return None
    n = _num(rhs.text)
    if n is None:
        return None
    op = check.op
    if (op in ("=", "==") and n == 0) or (op == "<" and n in (0, 1)) or (op == "<=" and n == 0):
        return NONE
    if (op == "!=" and n == 0) or (op == ">" and n == 0) or (op == ">=" and n in (0, 1)):
        return ALL
    return None


def _leaf(check: Check) -> EventTypes | None:
    """The set of a check, or None when the check says nothing about event types (neutral)."""
    lhs = check.lhs
    if not isinstance(lhs, FieldRef) or lhs.arg is not None or check.modifier is not None:
        return None
    if lhs.name in _TYPE_FIELDS:
        if check.op == "exists":
            return ALL
        if check.op not in ("=", "==", "!=", "in"):
            return None
        rhs = check.rhs
        if isinstance(rhs, Value):
            names = frozenset((rhs.text,))
        elif isinstance(rhs, ListValue):
            names = frozenset(v.text for v in rhs.items)
        else:
            return None  # a field on the right: rejected by the resolver, so neutral here
        return EventTypes(names, check.op == "!=")
    if lhs.name == "evt.num":
        return _evt_num(check)
    return None


def _visit(node: Node, negated: bool, memo: dict) -> EventTypes:
    # memo by (identity, polarity): an expanded macro is one shared subtree wherever it is used;
    # the node is kept with its value so that its identity cannot be reused while the memo lives
    key = ("types", id(node), negated)
    got = memo.get(key)
    if got is not None:
        return got[1]
    if isinstance(node, Check):
        got = _leaf(node)
        if got is None:
            got = ALL
        elif negated:
            got = got.invert()
    elif isinstance(node, Not):
        got = _visit(node.child, not negated, memo)
    elif isinstance(node, (And, Or)):
        intersect = isinstance(node, And) != negated
        got = ALL if intersect else NONE
        for child in node.children:
            sub = _visit(child, negated, memo)
            got = (got & sub) if intersect else (got | sub)
    else:
        got = ALL  # an unresolved macro reference: assume anything
    memo[key] = (node, got)
    return got


def static_truth(node: Node, evtype: str) -> bool | None:
    """The value of ``node`` for any event of type ``evtype`` when it is decided by the type alone
    (evt.type checks, evt.num invariants), else None."""
    if isinstance(node, Check):
        got = _leaf(node)
        return None if got is None else evtype in got
    if isinstance(node, Not):
        inner = static_truth(node.child, evtype)
        return None if inner is None else not inner
    if isinstance(node, (And, Or)):
        decisive = isinstance(node, Or)  # the value that decides an or (True) / an and (False)
        unknown = False
        for child in node.children:
            got = static_truth(child, evtype)
            if got is None:
                unknown = True
            elif got is decisive:
                return decisive
        return None if unknown else not decisive
    return None


def rule_event_types(node: Node, memo: dict | None = None) -> EventTypes:
    """The event types a (macro-expanded) condition can match. ``memo`` may be shared by the rules
    of one ruleset (see ruleset.expanded_size)."""
    return _visit(node, False, {} if memo is None else memo)


def all_event_types() -> frozenset[str]:
    """Every Falco event name pdigpy knows (the universe for 'all but' sets)."""
    from pdigpy.events.schema import ALL_EVENT_TYPES

    return frozenset(ALL_EVENT_TYPES)
