"""``user.*`` and ``group.*`` fields.

``user.uid``/``group.gid`` are the thread's *effective* ids, as libsinsp tracks them. Names
come from the State's user database (the traced root's /etc/passwd and /etc/group); without a
State, from this host's. Falco's fallbacks: ``root`` (home ``/root``, shell ``/bin/bash``) for id 0 when not
found, otherwise the literal ``<NA>``.

Hot path: extractors are closures over the bound user database's lookup methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import FieldInfo
from pdigpy.engine.fields.registry import FieldDef, make

if TYPE_CHECKING:
    from pdigpy.events.model import Event

NA = "<NA>"
UNSET_LOGINUID = 4294967295


class LocalUserDb:
    """uid/gid -> names from this host's passwd/group databases, cached, with Falco's fallbacks.

    Used only when the registry has no State (unit tests, --list); the State's UserDb reads
    the traced root's files instead.
    """

    def __init__(self) -> None:
        self._pw: dict[int, Any] = {}
        self._gr: dict[int, str] = {}

    def _pwent(self, uid: int) -> Any:
        if uid in self._pw:
            return self._pw[uid]
        import pwd

        try:
            ent = pwd.getpwuid(uid)
        except (KeyError, OverflowError, ValueError):
            ent = None
        self._pw[uid] = ent
        return ent

    def user_name(self, uid: int) -> str:
        ent = self._pwent(uid)
        if ent is not None:
            return ent.pw_name
        return "root" if uid == 0 else NA

    def user_home(self, uid: int) -> str:
        ent = self._pwent(uid)
        if ent is not None:
            return ent.pw_dir
        return "/root" if uid == 0 else NA

    def user_shell(self, uid: int) -> str:
        ent = self._pwent(uid)
        if ent is not None:
            return ent.pw_shell
        return "/bin/bash" if uid == 0 else NA

    def group_name(self, gid: int) -> str:
        name = self._gr.get(gid)
        if name is None:
            import grp

            try:
                name = grp.getgrgid(gid).gr_name
            except (KeyError, OverflowError, ValueError):
                name = "root" if gid == 0 else NA
            self._gr[gid] = name
        return name


def _loginuid(t: Any) -> int:
    v = t.loginuid
    return -1 if v == UNSET_LOGINUID or v is None else v


def _thread(get: Callable[[Any], Any], bits: int = 64):
    def factory(reg, info, arg):
        def extract(e: Event) -> Any:
            t = e.thread
            return None if t is None else get(t)

        # bits: the width Falco gives the field, so that "-1" in a rule wraps as in Falco.
        return make(info, arg, extract, extra={"bits": bits})

    return factory


def _named(method: str, id_of: Callable[[Any], int]):
    """A name looked up in the user database, which is resolved at bind time."""

    def factory(reg, info, arg):
        lookup = getattr(reg.users, method)

        def extract(e: Event) -> str | None:
            t = e.thread
            return None if t is None else lookup(id_of(t))

        return make(info, arg, extract)

    return factory


def _f_loginname(reg, info, arg):
    lookup = reg.users.user_name

    def extract(e: Event) -> str | None:
        t = e.thread
        if t is None:
            return None
        uid = _loginuid(t)
        return NA if uid < 0 else lookup(uid)

    return make(info, arg, extract)


def _info(name: str, ftype: str, desc: str, cls: str = "user") -> FieldInfo:
    return FieldInfo(name=name, type=ftype, desc=desc, field_class=cls)


def _euid(t: Any) -> int:
    return t.euid


def _egid(t: Any) -> int:
    return t.egid


FIELDS = [
    FieldDef(_info("user.uid", "uint", "Effective user id."), _thread(_euid, 32)),
    FieldDef(_info("user.name", "string", "User name (root / <NA> fallback)."), _named("user_name", _euid)),
    FieldDef(_info("user.homedir", "string", "Home directory of the user."), _named("user_home", _euid)),
    FieldDef(_info("user.shell", "string", "Login shell of the user."), _named("user_shell", _euid)),
    FieldDef(_info("user.loginuid", "int", "Audit login uid; -1 when unset."), _thread(_loginuid)),
    FieldDef(_info("user.loginname", "string", "Name of the login uid."), _f_loginname),
    FieldDef(_info("group.gid", "uint", "Effective group id.", "group"), _thread(_egid, 32)),
    FieldDef(_info("group.name", "string", "Group name (root / <NA> fallback).", "group"),
             _named("group_name", _egid)),
]
