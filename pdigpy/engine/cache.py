"""A persistent cache of parsed conditions, so that a start-up does not run the parser.

Loading the upstream rules parses ~370 distinct conditions (after list substitution); with
the pyparsing grammar that, plus building the grammar, is the largest part of a cold load.
The cache maps condition text -> AST (ASTs are immutable and picklable; each is stored as its
own pickle, unpickled only when looked up) and lives in
``$PDIGPY_CACHE_DIR`` or ``$XDG_CACHE_HOME/pdigpy`` (default ``~/.cache/pdigpy``). Its file
name carries the pdigpy version and a digest of the grammar and AST modules, so a changed
parser never sees stale trees. Set ``PDIGPY_NO_CACHE=1`` to disable it.

Only a file owned by the current user and not writable by others is read (it is a pickle).
Any problem reading or writing it is silent: the cache is an optimisation, never a
requirement.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

MAX_ENTRIES = 5000


# A warm start-up reads the caches on every run: it uses CPython's own modules behind hashlib and
# pickle where they exist. hashlib loads OpenSSL's whole algorithm table (~2.7 ms) and pickle.py
# its pure-Python pickler (~1.1 ms); the digests and the unpickled objects are the same.
def _sha256(data: bytes) -> Any:
    try:
        from _sha2 import sha256  # Python >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.10, 3.11
        except ImportError:  # a build without the built-in hashes
            from hashlib import sha256
    return sha256(data)


def _unpickler() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(load, loads)."""
    try:
        from _pickle import load, loads
    except ImportError:
        from pickle import load, loads
    return load, loads


def default_dir() -> Path:
    env = os.environ.get("PDIGPY_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pdigpy"


# The file's layout: bumped when it changes, so that no version reads another's file.
_FORMAT = b"per-entry pickles"


def _code_digest() -> str:
    import pdigpy
    from pdigpy.engine import ast as ast_module

    h = _sha256(pdigpy.__version__.encode())
    h.update(_FORMAT)
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


def _unpickle(blob: Any) -> Any:
    """One stored tree, or None if the entry is not one (a foreign or damaged file)."""
    if not isinstance(blob, bytes):
        return None
    _load, loads = _unpickler()
    try:
        return loads(blob)
    except Exception:
        return None


class ConditionCache:
    """condition text -> parsed AST, read on the first lookup and saved when new entries appeared.

    The file maps each text to that tree's own pickle, and a tree is unpickled only when it is
    looked up: one cache serves every rules set used on the machine (the default rules, the
    upstream files, a CI job's own), and unpickling all of its trees costs ~75 us each (~50 ms
    for 700), which a start-up with a few dozen conditions must not pay. Reading the file is
    deferred too, because a run with no conditions to parse (no rules, or every rule disabled)
    must not even open it.
    """

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else default_dir()
        self._path: Path | None = None
        self._stored: dict[str, bytes] | None = None  # the file: text -> pickled tree
        self._trees: dict[str, Any] = {}  # trees unpickled or added in this process
        self._added: dict[str, Any] = {}  # trees to write at the next save()
        self.hits = 0
        self.misses = 0

    @property
    def path(self) -> Path:
        if self._path is None:  # the digest reads grammar.py and ast.py: only when needed
            self._path = self.directory / f"conditions-{_code_digest()}.pickle"
        return self._path

    @property
    def stored(self) -> dict[str, bytes]:
        """The file's entries, each tree still pickled."""
        if self._stored is None:
            self._stored = self._load()
        return self._stored

    @property
    def entries(self) -> dict[str, Any]:
        """Every tree the cache holds, unpickled (slow: for inspection; lookups use :meth:`get`)."""
        trees: dict[str, Any] = {}
        for text, blob in self.stored.items():
            node = self._trees.get(text)
            if node is None:
                node = _unpickle(blob)
            if node is not None:
                trees[text] = node
        trees.update(self._added)
        return trees

    def _load(self) -> dict[str, bytes]:
        if not _safe_to_read(self.path) or not _safe_to_read(self.directory):
            return {}
        load, _loads = _unpickler()
        try:
            with open(self.path, "rb") as fh:
                data = load(fh)  # str and bytes only: no class is looked up or called here
            if isinstance(data, dict):
                return data
        except Exception:  # a truncated or foreign file: start empty
            pass
        return {}

    def get(self, text: str) -> Any:
        node = self._trees.get(text)
        if node is None:
            node = _unpickle(self.stored.get(text))
            if node is not None:
                self._trees[text] = node
        if node is None:
            self.misses += 1
        else:
            self.hits += 1
        return node

    def put(self, text: str, node: Any) -> None:
        self._trees[text] = node
        self._added[text] = node

    def save(self) -> None:
        if not self._added:
            return
        import pickle
        import tempfile

        added, self._added = self._added, {}
        stored = {text: blob for text, blob in self.stored.items() if isinstance(text, str) and isinstance(blob, bytes)}
        for text, node in added.items():
            try:
                stored[text] = pickle.dumps(node, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # not picklable: keep it for this process only
                pass
        if len(stored) > MAX_ENTRIES:  # keep the most recent ones
            stored = dict(list(stored.items())[-MAX_ENTRIES:])
        self._stored = stored
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".conditions-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(stored, fh, protocol=pickle.HIGHEST_PROTOCOL)
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


# --- the read cache: a rules file's reading, keyed by its name and exact text --------------------
#
# Reading a rules file means importing PyYAML (~30 ms), composing the YAML into nodes and walking
# them (~40 ms for the upstream files). The reader's output is a sequence of calls to the collector
# plus warnings, which depends only on the file's name and text and on the reader's code: the
# loader records it once (pdigpy.engine.loader) and replays it on later runs. Only successful
# readings are stored; a failing file is always read again. Files are few and small (one per rules
# file), the oldest beyond READ_MAX_FILES are removed.

READ_MAX_FILES = 64
_read_digest: list[str] = []


def _reader_code_digest() -> str:
    if not _read_digest:
        import pdigpy

        h = _sha256(pdigpy.__version__.encode())
        here = Path(__file__).resolve().parent
        for name in ("loader.py", "errors.py", "cache.py"):
            try:
                h.update((here / name).read_bytes())
            except OSError:
                h.update(name.encode())
        _read_digest.append(h.hexdigest())
    return _read_digest[0]


def _read_path(name: str, text: str) -> Path | None:
    if os.environ.get("PDIGPY_NO_CACHE"):
        return None
    h = _sha256(_reader_code_digest().encode())
    h.update(name.encode("utf-8", "surrogateescape"))
    h.update(b"\0")
    h.update(text.encode("utf-8", "surrogateescape"))
    return default_dir() / f"read-{h.hexdigest()[:32]}.pickle"


def load_reading(name: str, text: str) -> Any:
    """The stored reading of ``text`` read as file ``name``, or None."""
    path = _read_path(name, text)
    if path is None or not _safe_to_read(path) or not _safe_to_read(path.parent):
        return None
    load, _loads = _unpickler()
    try:
        with open(path, "rb") as fh:
            return load(fh)
    except Exception:  # truncated, foreign, or made by another version of the classes
        return None


def store_reading(name: str, text: str, reading: Any) -> None:
    path = _read_path(name, text)
    if path is None:
        return
    import pickle
    import tempfile

    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".read-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(reading, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        olds = sorted(directory.glob("read-*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in olds[:-READ_MAX_FILES]:
            old.unlink()
    except Exception:  # read-only home, full disk, a file removed meanwhile: no cache
        pass
