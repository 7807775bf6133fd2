"""The capture file: a run's snapshots and events as JSON lines, for replay.

One JSON object per line (format described in docs/events.md):

- line 1, ``{"kind":"header","format":"pdigpy-capture","version":1,...}``:
  created time, hostname, arch, pdigpy version, the users/groups tables of
  the traced root (so a replay names users as the traced machine did) and a
  free ``meta`` dict that other layers fill (command line, container ...);
- ``{"kind":"snapshot","info":{...ProcInfo fields...}}``; ``info.fds``, when
  the snapshot carries fds, is a list of objects with ProcFd's fields, those
  at their default value left out (``{"num":3,"type":"file","name":"/x"}``);
  without fds the key is absent (older captures never have it);
- ``{"kind":"event","num":..,"ts":..,"tid":..,"pid":..,"type":..,"res":..,
  "cpu":..,"args":{...}}``.

Values: ints, str, None, lists as JSON. Every str is kept exactly, including
the lone surrogates ``os.fsdecode`` makes of bytes that are not UTF-8 (the
file is written with ``ensure_ascii``, which escapes them as ``\\udcXX``;
``json`` reads them back unchanged). Other values are tagged one-key objects:
``{"$b": base64}`` bytes, ``{"$t": [family, l4proto, sip, sport, dip, dport,
path]}`` SockTuple, ``{"$a": [family, ip, port, path]}`` SockAddr,
``{"$d": {...}}`` a dict value. ``read_capture`` rebuilds identical Event and
ProcInfo objects. A ``.gz`` path is written and read gzip-compressed.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import os
from typing import IO, Any, Iterator

from pdigpy.events.model import Event, SockAddr, SockTuple
from pdigpy.events.procinfo import ProcFd, ProcInfo

FORMAT = "pdigpy-capture"
VERSION = 1

_PROCINFO_FIELDS = tuple(f.name for f in dataclasses.fields(ProcInfo))
_PROCINFO_REQUIRED = ("tid", "pid", "ptid")
# ProcFd field -> (JSON type it must have, default left out when writing)
_FD_DEFAULTS = ProcFd(0, "")
_PROCFD_FIELDS = {f.name: (type(getattr(_FD_DEFAULTS, f.name)), getattr(_FD_DEFAULTS, f.name))
                  for f in dataclasses.fields(ProcFd) if f.name not in ("num", "type")}
_EVENT_INT_FIELDS = ("num", "ts", "tid", "pid")


class CaptureError(Exception):
    """A capture file that cannot be read; the message names file, line and fault."""

    def __init__(self, path: str, line: int, what: str) -> None:
        super().__init__(f"{path}:{line}: {what}")
        self.path = path
        self.line = line
        self.what = what


# ---------------------------------------------------------------- encoding


def _encode_value(value: Any) -> Any:
    """A non-int, non-str arg value as JSON (the tagged forms of the module doc)."""
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, SockTuple):
        return {"$t": [value.family, value.l4proto, value.sip, value.sport, value.dip,
                       value.dport, value.path]}
    if isinstance(value, SockAddr):
        return {"$a": [value.family, value.ip, value.port, value.path]}
    if isinstance(value, (list, tuple)):
        return [v if type(v) is str or type(v) is int else _encode_value(v) for v in value]
    if isinstance(value, dict):
        return {"$d": {str(k): _encode_value(v) for k, v in value.items()}}
    if isinstance(value, (int, str)):  # subclasses (IntEnum, IntFlag ...)
        return int(value) if isinstance(value, int) else str(value)
    return {"$r": repr(value)}


def _meta_default(value: Any) -> Any:
    encoded = _encode_value(value)
    if encoded is value:
        return repr(value)
    return encoded


def _make_encoder() -> Any:
    """A reusable ASCII JSON encoder; the C one built once, not per call."""
    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii
    except ImportError:  # pragma: no cover - CPython always has it
        c_make_encoder = None
    if c_make_encoder is None:  # pragma: no cover
        return json.JSONEncoder(ensure_ascii=True, check_circular=False,
                                separators=(",", ":")).encode

    def unsupported(value: Any) -> Any:
        return _encode_value(value) if _encode_value(value) is not value else repr(value)

    make = c_make_encoder(None, unsupported, encode_basestring_ascii, None, ":", ",",
                          False, False, True)

    def encode(value: Any) -> str:
        if type(value) is str:
            return encode_basestring_ascii(value)
        return "".join(make(value, 0))

    return encode


class CaptureWriter:
    """Writes a capture; ``write_event`` is on the hot path of ``--events FILE``."""

    def __init__(self, path_or_stream: str | os.PathLike[str] | IO[str] | IO[bytes]) -> None:
        self._owns = False
        if isinstance(path_or_stream, (str, os.PathLike)):
            path = os.fspath(path_or_stream)
            self.name = path
            if path.endswith(".gz"):
                self._fh: IO[str] = gzip.open(path, "wt", encoding="ascii", compresslevel=6)
            else:
                self._fh = open(path, "w", encoding="ascii", newline="\n",  # noqa: SIM115
                                buffering=1 << 16)
            self._owns = True
        else:
            stream = path_or_stream
            self.name = getattr(stream, "name", "<stream>")
            if isinstance(stream, io.TextIOBase) or hasattr(stream, "encoding"):
                self._fh = stream  # type: ignore[assignment]
            else:
                self._fh = io.TextIOWrapper(stream, encoding="ascii", newline="\n")  # type: ignore[arg-type]
        self._encode = _make_encoder()
        self._type_json: dict[str, str] = {}
        self._write = self._fh.write
        self.events = 0
        self.snapshots = 0
        self._closed = False

    def write_header(self, meta: dict[str, Any] | None = None, *, users: Any = None) -> None:
        """The first line. ``users`` is a UserDb (default: the host's /etc/passwd+group)."""
        import platform
        import socket
        import time

        from pdigpy import __version__

        meta = dict(meta or {})
        created_ns = meta.get("created_ns")
        if not isinstance(created_ns, int):
            created_ns = time.time_ns()
        if users is None:
            from pdigpy.state.users import UserDb

            users = UserDb()
        tables = users.to_header()
        header = {
            "kind": "header",
            "format": FORMAT,
            "version": VERSION,
            "created_ns": created_ns,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created_ns / 1e9)),
            "hostname": meta.get("hostname") or socket.gethostname(),
            "arch": meta.get("machine") or meta.get("arch") or platform.machine(),
            "pdigpy_version": meta.get("pdigpy_version") or __version__,
            "users": tables["users"],
            "groups": tables["groups"],
            "meta": meta,
        }
        text = json.dumps(header, ensure_ascii=True, separators=(",", ":"),
                          default=_meta_default)
        self._write(text + "\n")

    def write_snapshot(self, info: ProcInfo) -> None:
        record = {name: getattr(info, name) for name in _PROCINFO_FIELDS}
        fds = record.pop("fds")
        if fds is not None:
            record["fds"] = [_fd_record(fd) for fd in fds]
        self._write('{"kind":"snapshot","info":' + self._encode(record) + "}\n")
        self.snapshots += 1

    def write_event(self, evt: Event) -> None:
        # Hot path (one call per event with --events): fixed keys written with
        # an f-string, one cached C encoder for the args, no dataclass
        # reflection; only arg values that are not int/str/None go through
        # the tag encoder.
        args = evt.args
        for value in args.values():
            kind = type(value)
            if kind is not int and kind is not str and value is not None:
                args = {k: (v if type(v) is int or type(v) is str or v is None
                            else _encode_value(v)) for k, v in args.items()}
                break
        num, ts, tid, pid, res, cpu = evt.num, evt.ts, evt.tid, evt.pid, evt.res, evt.cpu
        type_json = self._type_json.get(evt.type)
        if type_json is None:
            type_json = self._type_json[evt.type] = self._encode(str(evt.type))
        if (type(num) is int and type(ts) is int and type(tid) is int and type(pid) is int
                and type(cpu) is int and (res is None or type(res) is int)):
            self._write(f'{{"kind":"event","num":{num},"ts":{ts},"tid":{tid},"pid":{pid},'
                        f'"type":{type_json},"res":{"null" if res is None else res},'
                        f'"cpu":{cpu},"args":{self._encode(args)}}}\n')
        else:  # odd field types (never from the tracer): let json validate them
            self._write(self._encode({
                "kind": "event", "num": num, "ts": ts, "tid": tid, "pid": pid,
                "type": evt.type, "res": res, "cpu": cpu, "args": args,
            }) + "\n")
        self.events += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._fh.flush()
        finally:
            if self._owns:
                self._fh.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fd_record(fd: ProcFd) -> dict[str, Any]:
    record: dict[str, Any] = {"num": fd.num, "type": fd.type}
    for name, (_kind, default) in _PROCFD_FIELDS.items():
        value = getattr(fd, name)
        if value != default:
            record[name] = value
    return record


# ---------------------------------------------------------------- decoding


class _Bad(Exception):
    """A fault inside one record; turned into CaptureError with the line number."""


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) != 1:
            raise _Bad(f"untagged object value {json.dumps(value)[:60]}")
        (tag, body), = value.items()
        if tag == "$b":
            if not isinstance(body, str):
                raise _Bad("bytes value ($b) is not a base64 string")
            try:
                return base64.b64decode(body.encode("ascii"), validate=True)
            except (ValueError, UnicodeEncodeError):
                raise _Bad("bytes value ($b) is not valid base64") from None
        if tag == "$t":
            if not isinstance(body, list) or len(body) != 7:
                raise _Bad("socket tuple ($t) needs 7 items")
            return SockTuple(*body)
        if tag == "$a":
            if not isinstance(body, list) or len(body) != 4:
                raise _Bad("socket address ($a) needs 4 items")
            return SockAddr(*body)
        if tag == "$d":
            if not isinstance(body, dict):
                raise _Bad("dict value ($d) is not an object")
            return {k: _decode_value(v) for k, v in body.items()}
        if tag == "$r":
            return str(body)
        raise _Bad(f"unknown value tag {tag!r}")
    if isinstance(value, list):
        return [_decode_value(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _decode_event(record: dict[str, Any]) -> Event:
    # Replay's hot path: plain type() tests, one pass over the args.
    get = record.get
    num, ts, tid, pid, etype, res = (get("num"), get("ts"), get("tid"), get("pid"),
                                     get("type"), get("res"))
    if not (type(num) is int and type(ts) is int and type(tid) is int and type(pid) is int):
        for name in _EVENT_INT_FIELDS:
            if type(get(name)) is not int:
                raise _Bad(f"event record: {name!r} must be an integer")
    if type(etype) is not str or not etype:
        raise _Bad("event record: 'type' must be a non-empty string")
    if res is not None and type(res) is not int:
        raise _Bad("event record: 'res' must be an integer or null")
    args = get("args", {})
    if type(args) is not dict:
        raise _Bad("event record: 'args' must be an object")
    for key, value in args.items():
        kind = type(value)
        if kind is dict or kind is list:
            try:
                args[key] = _decode_value(value)
            except _Bad as exc:
                raise _Bad(f"event arg {key!r}: {exc}") from None
    cpu = get("cpu", 0)
    return Event(num, ts, tid, pid, etype, res, args, cpu if type(cpu) is int else 0)


def _decode_snapshot(record: dict[str, Any]) -> ProcInfo:
    info = record.get("info")
    if not isinstance(info, dict):
        raise _Bad("snapshot record: 'info' must be an object")
    for name in _PROCINFO_REQUIRED:
        if type(info.get(name)) is not int:
            raise _Bad(f"snapshot record: {name!r} must be an integer")
    known = {k: v for k, v in info.items() if k in _PROCINFO_FIELDS}  # newer fields: ignored
    fds = known.pop("fds", None)
    if fds is not None:
        if not isinstance(fds, list):
            raise _Bad("snapshot record: 'fds' must be a list")
        known["fds"] = [_decode_fd(i, fd) for i, fd in enumerate(fds)]
    return ProcInfo(**known)


def _decode_fd(index: int, record: Any) -> ProcFd:
    if not isinstance(record, dict):
        raise _Bad(f"snapshot record: fds[{index}] must be an object")
    num, ftype = record.get("num"), record.get("type")
    if type(num) is not int or num < 0:
        raise _Bad(f"snapshot record: fds[{index}]: 'num' must be a non-negative integer")
    if type(ftype) is not str or not ftype:
        raise _Bad(f"snapshot record: fds[{index}]: 'type' must be a non-empty string")
    fd = ProcFd(num, ftype)
    for name, value in record.items():
        spec = _PROCFD_FIELDS.get(name)
        if spec is None:
            continue  # num/type, or a field of a newer writer: ignored
        if type(value) is not spec[0]:
            raise _Bad(f"snapshot record: fds[{index}]: {name!r} must be "
                       f"{'a boolean' if spec[0] is bool else 'an integer' if spec[0] is int else 'a string'}")
        setattr(fd, name, value)
    return fd


def _check_header(record: dict[str, Any]) -> None:
    if record.get("kind") != "header":
        raise _Bad("the first record is not a capture header "
                   "(give a file written by pdigpy --events FILE)")
    if record.get("format") != FORMAT:
        raise _Bad(f"format {record.get('format')!r} is not {FORMAT!r}")
    version = record.get("version")
    if version != VERSION:
        raise _Bad(f"capture version {version!r} is not supported "
                   f"(this pdigpy reads version {VERSION})")


def read_capture(path: str | os.PathLike[str]) -> Iterator[tuple[str, Any]]:
    """Yield ("header", dict), then ("snapshot", ProcInfo) / ("event", Event) records.

    Raises CaptureError (file, line number, what is wrong) on the first bad
    record; records before it have been yielded.
    """
    name = os.fspath(path)
    try:
        fh: IO[bytes] = gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb")
    except OSError as exc:
        raise CaptureError(name, 0, f"cannot open ({exc.strerror or exc})") from None
    raw_decode = json.JSONDecoder().raw_decode
    with fh:
        lineno = 0
        seen_header = False
        try:
            for raw in fh:
                lineno += 1
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                    record, end = raw_decode(text)
                    if end != len(text) and text[end:].strip():
                        raise json.JSONDecodeError("Extra data", text, end)
                except ValueError as exc:
                    if not raw.endswith(b"\n"):
                        raise CaptureError(name, lineno, "truncated record at the end of the file "
                                           "(the capture was cut off while writing)") from None
                    if isinstance(exc, UnicodeDecodeError):
                        raise CaptureError(name, lineno, "not UTF-8 text") from None
                    msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    raise CaptureError(name, lineno, f"invalid JSON ({msg})") from None
                if not isinstance(record, dict):
                    raise CaptureError(name, lineno, "a record must be a JSON object")
                try:
                    if not seen_header:
                        _check_header(record)
                        seen_header = True
                        yield "header", record
                        continue
                    kind = record.get("kind")
                    if kind == "event":
                        yield "event", _decode_event(record)
                    elif kind == "snapshot":
                        yield "snapshot", _decode_snapshot(record)
                    elif kind == "header":
                        raise _Bad("a second header record")
                    else:
                        raise _Bad(f"unknown record kind {kind!r} "
                                   "(expected 'event' or 'snapshot')")
                except _Bad as exc:
                    raise CaptureError(name, lineno, str(exc)) from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise CaptureError(name, lineno + 1, f"cannot read ({exc})") from None
        if not seen_header:
            raise CaptureError(name, max(lineno, 1), "empty capture: no header record")
