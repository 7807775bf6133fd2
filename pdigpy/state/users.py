"""uid -> user name/home/shell and gid -> group name, as user.* and group.* read them.

The tables come from the traced root's /etc/passwd and /etc/group (read once,
lazily, on the first lookup), or from a capture header so that a replay on
another machine names users as the traced machine did. Unknown ids follow
Falco's fallbacks: uid/gid 0 is ``root`` (home ``/root``), anything else ``<NA>``.
"""

from __future__ import annotations

import os
from typing import Any

NA = "<NA>"
ROOT_HOME = "/root"
ROOT_SHELL = "/bin/bash"


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as fh:
            return [os.fsdecode(line.rstrip(b"\n")) for line in fh]
    except OSError:
        return []


def parse_passwd(lines: list[str]) -> dict[int, tuple[str, str, str]]:
    users: dict[int, tuple[str, str, str]] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 7:
            continue
        try:
            uid = int(parts[2])
        except ValueError:
            continue
        users.setdefault(uid, (parts[0], parts[5], parts[6]))  # first entry wins, as getpwuid
    return users


def parse_group(lines: list[str]) -> dict[int, str]:
    groups: dict[int, str] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 3:
            continue
        try:
            gid = int(parts[2])
        except ValueError:
            continue
        groups.setdefault(gid, parts[0])
    return groups


class UserDb:
    """User and group names of the traced root (``/`` by default)."""

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self._users: dict[int, tuple[str, str, str]] | None = None
        self._groups: dict[int, str] | None = None

    @classmethod
    def from_tables(cls, users: dict[int, tuple[str, str, str]],
                    groups: dict[int, str]) -> UserDb:
        db = cls(root="")
        db._users = dict(users)
        db._groups = dict(groups)
        return db

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> UserDb:
        """The tables a capture header carries ("users", "groups"); see docs/events.md."""
        users_raw = header.get("users") or {}
        groups_raw = header.get("groups") or {}
        users: dict[int, tuple[str, str, str]] = {}
        for key, value in users_raw.items():
            try:
                name, home, shell = (list(value) + ["", "", ""])[:3]
                users[int(key)] = (str(name), str(home), str(shell))
            except (TypeError, ValueError):
                continue
        groups: dict[int, str] = {}
        for key, value in groups_raw.items():
            try:
                groups[int(key)] = str(value)
            except (TypeError, ValueError):
                continue
        return cls.from_tables(users, groups)

    def _load(self) -> None:
        root = self.root or "/"
        if self._users is None:
            self._users = parse_passwd(_read_lines(os.path.join(root, "etc/passwd")))
        if self._groups is None:
            self._groups = parse_group(_read_lines(os.path.join(root, "etc/group")))

    @property
    def users(self) -> dict[int, tuple[str, str, str]]:
        if self._users is None:
            self._load()
        assert self._users is not None
        return self._users

    @property
    def groups(self) -> dict[int, str]:
        if self._groups is None:
            self._load()
        assert self._groups is not None
        return self._groups

    def to_header(self) -> dict[str, Any]:
        """JSON-ready tables for a capture header (keys are decimal strings)."""
        return {
            "users": {str(uid): list(entry) for uid, entry in sorted(self.users.items())},
            "groups": {str(gid): name for gid, name in sorted(self.groups.items())},
        }

    @staticmethod
    def _norm(uid: int) -> int:
        return uid & 0xFFFFFFFF if uid < 0 else uid

    def user_name(self, uid: int) -> str:
        entry = self.users.get(self._norm(uid))
        if entry is not None:
            return entry[0]
        return "root" if uid == 0 else NA

    def user_home(self, uid: int) -> str:
        entry = self.users.get(self._norm(uid))
        if entry is not None:
            return entry[1]
        return ROOT_HOME if uid == 0 else NA

    def user_shell(self, uid: int) -> str:
        entry = self.users.get(self._norm(uid))
        if entry is not None:
            return entry[2]
        return ROOT_SHELL if uid == 0 else NA

    def group_name(self, gid: int) -> str:
        name = self.groups.get(self._norm(gid))
        if name is not None:
            return name
        return "root" if gid == 0 else NA
