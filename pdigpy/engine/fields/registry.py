"""The field registry: turns ``name`` + ``[arg]`` into a :class:`BoundField` ready to extract.

Each field-class module (evt, proc, user, fd, fs, container) exports ``FIELDS``, a list of
:class:`FieldDef` rows: the :class:`FieldInfo` shown by ``--list`` and a factory that
resolves everything at bind time and returns the extraction closure. Binding is done once per
rule at load time; extraction then runs per event without any name lookups.

Field names are matched exactly (``proc.namex`` is not ``proc.name``). Fields whose argument is
written as a dotted suffix (``evt.arg.NAME``, ``evt.rawarg.NAME``, ``evt.type.is.NAME``,
``thread.cgroup.SUBSYS``, ``container.label.KEY``, ``k8s.pod.label.KEY``) register their prefix
and are matched by the longest prefix, as Falco does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import BoundField, FieldError, FieldInfo

if TYPE_CHECKING:
    from pdigpy.engine.fields.container import ContainerMeta

# FieldInfo.flags (in addition to base.py's): the container plugin's "suggested output" fields.
SUGGESTED = "suggested"

Factory = Callable[["FieldRegistry", FieldInfo, "str | None"], BoundField]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One registered field: its FieldInfo and the factory that binds it."""

    info: FieldInfo
    factory: Factory
    dotted: bool = False  # the argument is a ".SUFFIX" of the name (evt.arg.NAME)


def nonexistent(name: str) -> FieldError:
    return FieldError(f"filter_check called with nonexistent field {name}")


def _all_defs() -> list[FieldDef]:
    # Imported here so that importing the registry module stays cheap.
    from pdigpy.engine.fields import container, evt, fd, fs, proc, user

    defs: list[FieldDef] = []
    for module in (evt, proc, user, fd, fs, container):
        defs.extend(module.FIELDS)
    return defs


class FieldRegistry:
    """All syscall-source fields, bound against one State and one container context.

    ``state`` is the :class:`pdigpy.state.tables.State` (for the user database; thread and fd
    records come with each event). ``container`` is the metadata of the container pdigpy runs
    in (ECS task metadata, or restored from a capture header), or None to derive container ids
    from cgroups only.
    """

    def __init__(self, state: Any = None, container: ContainerMeta | None = None) -> None:
        self.state = state
        self.container = container
        # The table is built on the first bind(): a run with no rules then imports no field
        # module (~4 ms of its start-up).
        self._exact: dict[str, FieldDef] | None = None
        self._dotted: list[FieldDef] = []
        # Shared mutable context some fields need (first event time for evt.reltime ...).
        self.shared: dict[str, Any] = {}
        self._container_cache: Any = None

    def _build(self) -> dict[str, FieldDef]:
        exact: dict[str, FieldDef] = {}
        dotted: list[FieldDef] = []
        for d in _all_defs():
            if d.dotted:
                dotted.append(d)
            else:
                exact[d.info.name] = d
        # Longest prefix first, so evt.rawarg.X is not taken for evt.arg...
        dotted.sort(key=lambda d: -len(d.info.name))
        self._dotted = dotted
        self._exact = exact
        return exact

    # -- binding -------------------------------------------------------------------------

    def bind(self, name: str, arg: str | None = None) -> BoundField:
        """A bound field for ``name[arg]``; FieldError (Falco's wording) if unknown or invalid."""
        exact = self._exact
        if exact is None:
            exact = self._build()
        d = exact.get(name)
        if d is not None:
            info = d.info
            if arg is None and info.arg == "required":
                raise FieldError(f"filter_check called with field {name} which requires an argument")
            if arg is not None and info.arg == "none":
                raise FieldError(f"filter_check called with field {name} which does not take an argument")
            return d.factory(self, info, arg)
        for d in self._dotted:
            prefix = d.info.name
            if name.startswith(prefix + ".") and len(name) > len(prefix) + 1:
                if arg is not None:
                    raise FieldError(f"filter_check called with field {name} which does not take an argument")
                return d.factory(self, d.info, name[len(prefix) + 1 :])
            if name == prefix and d.info.arg != "none":
                # evt.arg[N] style: the bracket form of a dotted field
                if arg is None:
                    raise FieldError(f"filter_check called with field {name} which requires an argument")
                return d.factory(self, d.info, arg)
        raise nonexistent(name)

    def infos(self) -> list[FieldInfo]:
        """Every field, in field-class order, for ``--list``."""
        return [d.info for d in _all_defs()]

    # -- services for the field classes ----------------------------------------------------

    @property
    def users(self) -> Any:
        """The user database: the State's (traced root's /etc/passwd) or the local one."""
        users = getattr(self.state, "users", None)
        if users is None:
            from pdigpy.engine.fields.user import LocalUserDb

            users = self.shared.get("local_users")
            if users is None:
                users = self.shared["local_users"] = LocalUserDb()
        return users

    def container_resolver(self) -> Any:
        """The per-registry container resolver (thread -> ContainerMeta), created once."""
        if self._container_cache is None:
            from pdigpy.engine.fields.container import ContainerResolver

            self._container_cache = ContainerResolver(self.container)
        return self._container_cache


def make(info: FieldInfo, arg: str | None, extract: Callable, **kw: Any) -> BoundField:
    """A BoundField with the info's type unless overridden."""
    ftype = kw.pop("type", info.type)
    is_list = kw.pop("is_list", info.is_list)
    return BoundField(info=info, arg=arg, extract=extract, type=ftype, is_list=is_list, **kw)
