"""A persistent cache of parsed conditions, so that a start-up does not run the parser.

Loading the upstream rules parses ~370 distinct conditions (after list substitution); with
the pyparsing grammar that, plus building the grammar, is the largest part of a cold load.
The cache maps condition text -> AST (ASTs are immutable and picklable) and lives in
``$PDIGPY_CACHE_DIR`` or ``$XDG_CACHE_HOME/pdigpy`` (default ``~/.cache/pdigpy``). Its file
name carries the pdigpy version and a digest of the grammar and AST modules, so a changed
parser never sees stale trees. Set ``PDIGPY_NO_CACHE=1`` to disable it.

Only a file owned by the current user and not writable by others is read (it is a pickle).
Any problem reading or writing it is silent: the cache is an optimisation, never a
requirement.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

MAX_ENTRIES = 5000


def default_dir() -> Path:
    env = os.environ.get("PDIGPY_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pdigpy"


def _code_digest() -> str:
    import pdigpy
    from pdigpy.engine import ast as ast_module

    h = hashlib.sha256(pdigpy.__version__.encode())
    here = Path(ast_module.__file__).resolve().parent
    for name in ("grammar.py", "ast.py"):
        try:
            h.update((here / name).read_bytes())
        except OSError:
            h.update(name.encode())
    return h.hexdigest()[:16]


def _safe_to_read(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not (st.st_mode & 0o022)


class ConditionCache:
    """condition text -> parsed AST, loaded once and saved when new entries appeared."""

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else default_dir()
        self.path = self.directory / f"conditions-{_code_digest()}.pickle"
        self.entries: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0
        self._dirty = False
        self._load()

    def _load(self) -> None:
        if not _safe_to_read(self.path) or not _safe_to_read(self.directory):
            return
        try:
            with open(self.path, "rb") as fh:
                data = pickle.load(fh)
            if isinstance(data, dict):
                self.entries = data
        except Exception:  # a truncated or foreign file: start empty
            self.entries = {}

    def get(self, text: str) -> Any:
        node = self.entries.get(text)
        if node is None:
            self.misses += 1
        else:
            self.hits += 1
        return node

    def put(self, text: str, node: Any) -> None:
        self.entries[text] = node
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        entries = self.entries
        if len(entries) > MAX_ENTRIES:  # keep the most recent ones
            entries = dict(list(entries.items())[-MAX_ENTRIES:])
            self.entries = entries
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".conditions-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(entries, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except Exception:  # read-only home, full disk...: run without the cache
            pass


_shared: dict[Path, ConditionCache] = {}


def shared_cache(directory: Path | None = None) -> ConditionCache | None:
    """The process-wide cache for ``directory`` (default location), or None if disabled."""
    if os.environ.get("PDIGPY_NO_CACHE"):
        return None
    key = Path(directory) if directory is not None else default_dir()
    cache = _shared.get(key)
    if cache is None:
        cache = _shared[key] = ConditionCache(key)
    return cache
