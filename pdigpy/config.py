"""Configuration: Falco's falco.yaml keys, pdigpy's defaults and ``-o KEY=VALUE`` overrides.

Where the configuration comes from, first match wins:

1. ``-c PATH`` (a falco.yaml is read as is, its ``rules_files``/``rules_file`` honoured);
2. ``$PDIGPY_CONFIG``;
3. ``/etc/pdigpy/pdigpy.yaml`` if present;
4. the built-in defaults below.

A file only overrides the keys it sets; every other key keeps its default.
``-o`` overrides are applied last, in order, with Falco's syntax:
``a.b=v`` (nested key), ``a.b[1]=v`` (list item), ``a[]=v`` (append),
``\\.`` ``\\[`` ``\\]`` ``\\\\`` escape those characters in key names, and the value
is read as YAML (``true`` is a bool, ``5`` an int, ``{k: v}`` and ``[a, b]`` are
a mapping and a list).

Two deliberate differences from Falco, because pdigpy shares its terminal
with the traced app, whose stdout is sacred:

- ``stdout_output`` is off by default; alerts go to ``stderr_output`` (a
  pdigpy key, same format as stdout_output) instead.
- ``syslog_output`` is off by default (containers rarely run a syslog daemon).

A config file that enables ``stdout_output`` without saying anything about
``stderr_output`` (a stock falco.yaml) gets alerts on stdout only, as asked,
not twice.

Every problem raises :class:`ConfigError` with one line naming the place
(file and key, or the ``-o`` item) and what to write instead.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PDIGPY_CONFIG_ENV = "PDIGPY_CONFIG"
SYSTEM_CONFIG = "/etc/pdigpy/pdigpy.yaml"
LOCAL_RULES = "/etc/pdigpy/pdigpy_rules.local.yaml"
RULES_FILE_SUFFIXES = (".yaml", ".yml")


class ConfigError(Exception):
    """A bad config file, key, value or ``-o`` item; the message is one line for the user."""


def _defaults() -> dict[str, Any]:
    return {
        "rules_files": [],  # empty: pdigpy's bundled rules, then the local overrides file
        "rules": [],
        "priority": "debug",
        "rule_matching": "first",
        "json_output": False,
        "json_include_output_property": True,
        "json_include_message_property": False,
        "json_include_output_fields_property": True,
        "json_include_tags_property": True,
        "time_format_iso_8601": False,
        "buffer_format_base64": False,
        "buffered_outputs": False,
        "outputs_queue": {"capacity": 0},
        "output_timeout": 2000,
        "append_output": [],
        "stdout_output": {"enabled": False},
        "stderr_output": {"enabled": True},
        "syslog_output": {"enabled": False},
        "file_output": {"enabled": False, "keep_alive": False, "filename": "./events.txt"},
        "program_output": {"enabled": False, "keep_alive": False, "program": ""},
        "http_output": {
            "enabled": False,
            "url": "",
            "user_agent": "falcosecurity/falco",
            "insecure": False,
            "ca_cert": "",
            "ca_bundle": "",
            "ca_path": "/etc/ssl/certs",
            "mtls": False,
            "client_cert": "",
            "client_key": "",
            "echo": False,
            "compress_uploads": False,
            "keep_alive": False,
            "max_consecutive_timeouts": 5,
        },
        "base_syscalls": {"custom_set": [], "repair": False, "all": False},
        "log_stderr": True,
        "log_syslog": False,
        "log_level": "info",
    }


# Type of every key pdigpy checks. "bool", "int", "str", "list", "dict", or a
# tuple of allowed (lower-case) words. Keys absent here are passed through
# unchecked (Falco's plugin, engine and forwarding sections).
_PRIORITY_WORDS = ("emergency", "alert", "critical", "error", "warning", "notice",
                   "informational", "info", "debug", "emerg", "crit", "err", "warn")
KEY_TYPES: dict[str, Any] = {
    "rules_files": "list",
    "rules_file": "list",
    "rules": "list",
    "priority": _PRIORITY_WORDS,
    "rule_matching": ("first", "all"),
    "json_output": "bool",
    "json_include_output_property": "bool",
    "json_include_message_property": "bool",
    "json_include_output_fields_property": "bool",
    "json_include_tags_property": "bool",
    "time_format_iso_8601": "bool",
    "buffer_format_base64": "bool",
    "buffered_outputs": "bool",
    "outputs_queue": "dict",
    "outputs_queue.capacity": "int",
    "output_timeout": "int",
    "append_output": "list",
    "stdout_output": "dict",
    "stdout_output.enabled": "bool",
    "stderr_output": "dict",
    "stderr_output.enabled": "bool",
    "stderr_output.color": "bool",  # pdigpy's: force colour on/off (default: only on a terminal)
    "syslog_output": "dict",
    "syslog_output.enabled": "bool",
    "syslog_output.address": "str",  # pdigpy's: where to send (docs/outputs.md); the outputs check it
    "syslog_output.ident": "str",
    "syslog_output.facility": "str",
    "file_output": "dict",
    "file_output.enabled": "bool",
    "file_output.keep_alive": "bool",
    "file_output.filename": "str",
    "program_output": "dict",
    "program_output.enabled": "bool",
    "program_output.keep_alive": "bool",
    "program_output.program": "str",
    "http_output": "dict",
    "http_output.enabled": "bool",
    "http_output.url": "str",
    "http_output.user_agent": "str",
    "http_output.insecure": "bool",
    "http_output.ca_cert": "str",
    "http_output.ca_bundle": "str",
    "http_output.ca_path": "str",
    "http_output.mtls": "bool",
    "http_output.client_cert": "str",
    "http_output.client_key": "str",
    "http_output.echo": "bool",
    "http_output.compress_uploads": "bool",
    "http_output.keep_alive": "bool",
    "http_output.max_consecutive_timeouts": "int",
    "base_syscalls": "dict",
    "base_syscalls.custom_set": "list",
    "base_syscalls.repair": "bool",
    "base_syscalls.all": "bool",
    "log_stderr": "bool",
    "log_syslog": "bool",
    "log_level": ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"),
}

# Falco keys pdigpy accepts and ignores (so a stock falco.yaml loads quietly).
FALCO_OTHER_KEYS = frozenset({
    "config_files", "watch_config_files", "engine", "plugins", "load_plugins", "static_fields",
    "falco_libs", "libs_logger", "webserver", "metrics", "syscall_event_drops",
    "syscall_event_timeouts", "output_timeout", "capture", "container_engines", "grpc",
    "grpc_output", "log_level", "rule_matching", "outputs", "json_include_output_fields_property",
    "plugins_hostinfo", "falco_libs", "metadata_download", "syscall_buf_size_preset",
    "modern_bpf", "watch_config_files", "time_format_iso_8601", "buffered_outputs", "base_syscalls",
    "rules_file", "append_output", "outputs_queue", "container",
    # Older falco.yaml files (still found in the wild): quietly ignored too.
    "k8s_api", "k8s_api_cert", "k8s_node_name", "mesos_api", "cri", "disable_cri_async",
    "syscall_drop_failed_exit", "json_include_message_property", "buffer_format_base64",
    # pdigpy's own sections, read by the outputs layer: delivery tuning and forwarders.
    "pdigpy", "forwarders",
})
KNOWN_TOP_KEYS = frozenset(_defaults()) | frozenset(k for k in KEY_TYPES if "." not in k) | FALCO_OTHER_KEYS


@dataclass
class Config:
    """The merged configuration and where it came from."""

    data: dict[str, Any]
    source: str  # "built-in defaults" or the file path
    warnings: list[str] = field(default_factory=list)
    explicit_rules_files: bool = False  # rules_files/rules_file came from a file or -o
    # Top-level key -> the places that set it (the file, then each -o item), for errors found
    # after loading (rules selection, append_output): they name the place, not the defaults.
    key_places: dict[str, list[str]] = field(default_factory=dict)

    def place_of(self, key: str) -> str:
        """Where ``key``'s value came from: ``-o ITEM``, the file, both, or the defaults."""
        places = self.key_places.get(key)
        return " and ".join(places) if places else self.source

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


# ---------------------------------------------------------------------------
# Loading


def default_config_path(environ: dict[str, str] | None = None) -> str | None:
    """$PDIGPY_CONFIG, else /etc/pdigpy/pdigpy.yaml if present, else None (built-in defaults)."""
    env = os.environ if environ is None else environ
    path = env.get(PDIGPY_CONFIG_ENV)
    if path:
        return path
    if os.path.isfile(SYSTEM_CONFIG):
        return SYSTEM_CONFIG
    return None


def load_config(path: str | None, overrides: list[str] | tuple[str, ...] = (),
                environ: dict[str, str] | None = None) -> Config:
    """Built-in defaults, then the file (``path``, else the default location), then ``-o`` items."""
    data = _defaults()
    warnings: list[str] = []
    source = "built-in defaults"
    if path is None:
        env = os.environ if environ is None else environ
        path = default_config_path(env)
        origin = f"${PDIGPY_CONFIG_ENV}" if path and path == env.get(PDIGPY_CONFIG_ENV) else None
    else:
        origin = "-c"
    file_keys: set[str] = set()
    key_places: dict[str, list[str]] = {}
    if path is not None:
        loaded = _read_yaml_file(path, origin)
        file_keys = set(loaded)
        for key in loaded:
            key_places[str(key)] = [path]
            if key not in KNOWN_TOP_KEYS:
                warnings.append(f"{path}: unknown key {key!r} ignored{_suggest(str(key), KNOWN_TOP_KEYS)}")
        warnings.extend(_unknown_subkey_warnings(loaded, path))
        _deep_merge(data, loaded)
        source = path
        _check_types(data, lambda key: f"{path}: {key}", only=set(loaded))
    stderr_explicit = "stderr_output" in file_keys
    explicit_rules = bool(file_keys & {"rules_files", "rules_file"})
    for item in overrides:
        key_path = apply_override(data, item)
        top = key_path[0] if key_path else ""
        if isinstance(top, str):
            key_places.setdefault(top, []).append(f"-o {item}")
            if top not in KNOWN_TOP_KEYS:  # a close match was refused in apply_override
                warnings.append(f"-o {item}: unknown config key {top!r} ignored (neither pdigpy nor Falco has it)")
        if top == "stderr_output":
            stderr_explicit = True
        if top in ("rules_files", "rules_file"):
            explicit_rules = True
    if not stderr_explicit and _truthy(data.get("stdout_output", {}).get("enabled")):
        data["stderr_output"]["enabled"] = False
    _normalise_rules_files(data, source)
    return Config(data=data, source=source, warnings=warnings, explicit_rules_files=explicit_rules,
                  key_places=key_places)


def _unknown_subkey_warnings(loaded: dict[str, Any], path: str) -> list[str]:
    """A misspelt key inside a section pdigpy knows (file_output.filenme) would be ignored
    silently; say so, as for unknown top-level keys (a warning: Falco ignores it too)."""
    warnings: list[str] = []
    for top, section in loaded.items():
        if KEY_TYPES.get(top) != "dict" or not isinstance(section, dict):
            continue
        known = {k.split(".", 1)[1] for k in KEY_TYPES if k.startswith(f"{top}.")}
        for sub in section:
            if known and sub not in known:
                warnings.append(f"{path}: unknown key {sub!r} in {top} ignored{_suggest(str(sub), known)}; "
                                f"known: {', '.join(sorted(known))}")
    return warnings


def _read_yaml_file(path: str, origin: str | None) -> dict[str, Any]:
    import yaml  # lazily: keep `pdigpy --version` fast

    where = f"{origin} {path}" if origin else path
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        fix = f"point ${PDIGPY_CONFIG_ENV} at an existing file or unset it" if origin and origin.startswith("$") \
            else "give an existing file to -c"
        raise ConfigError(f"config file {where}: not found; {fix}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {where}: is a directory; give a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {where}: cannot read ({exc.__class__.__name__}: {exc})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{place}: invalid YAML ({problem}); fix the syntax at that line") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping of keys (like falco.yaml), not a {type(loaded).__name__}")
    return loaded


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _normalise_rules_files(data: dict[str, Any], source: str) -> None:
    """Falco's legacy ``rules_file`` counts too; a single string becomes a list."""
    for key in ("rules_file", "rules_files"):
        value = data.get(key)
        if isinstance(value, str):
            data[key] = [value]
    legacy = data.pop("rules_file", None)
    if legacy and not data.get("rules_files"):
        data["rules_files"] = legacy
    for item in data.get("rules_files") or []:
        if not isinstance(item, str):
            raise ConfigError(f"{source}: rules_files: every item must be a path string, got {item!r}")


# ---------------------------------------------------------------------------
# Types


def _truthy(value: Any) -> bool:
    return value is True


def _check_types(data: dict[str, Any], place, only: set[str] | None = None) -> None:
    for key, kind in KEY_TYPES.items():
        top = key.split(".")[0]
        if only is not None and top not in only:
            continue
        found, value = _lookup(data, key)
        if not found:
            continue
        _check_value(key, value, kind, place(key))


def _lookup(data: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _check_value(key: str, value: Any, kind: Any, place: str) -> Any:
    """Return the value converted to the key's type, or raise ConfigError."""
    if isinstance(kind, tuple):
        if isinstance(value, str) and value.lower() in kind:
            return value
        raise ConfigError(f"{place}: expected one of {', '.join(w for w in kind if len(w) > 4 or w in ('all', 'info', 'warn'))}, got {value!r}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{place}: expected true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{place}: expected an integer, got {value!r}")
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{place}: expected a string, got {value!r}")
    if kind == "list":
        if isinstance(value, list) or (key in ("rules_files", "rules_file") and isinstance(value, str)):
            return value
        raise ConfigError(f"{place}: expected a list, got {value!r}")
    if kind == "dict":
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{place}: expected a mapping of keys, got {value!r}")
    return value


def _suggest(word: str, choices) -> str:
    import difflib  # only on an error path; keeps start-up light

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------
# -o KEY=VALUE


def parse_key_path(key: str) -> list[str | int | None]:
    """``a.b[1].c`` -> ["a", "b", 1, "c"]; ``a[]`` -> ["a", None] (append).

    A backslash escapes ``.``, ``[``, ``]`` and ``\\`` inside a key name.
    Raises ValueError with a short reason.
    """
    parts: list[str | int | None] = []
    name: list[str] = []
    have_name = False
    i = 0
    n = len(key)
    while i < n:
        ch = key[i]
        if ch == "\\":
            if i + 1 < n and key[i + 1] in ".[]\\":
                name.append(key[i + 1])
                have_name = True
                i += 2
                continue
            raise ValueError("a backslash in a key escapes only '.', '[', ']' or '\\'")
        if ch == ".":
            after_index = i > 0 and key[i - 1] == "]"
            if not have_name and not after_index:
                raise ValueError("empty key name")
            if have_name:
                parts.append("".join(name))
            name, have_name = [], False
            i += 1
            if i >= n:
                raise ValueError("key ends with '.'")
            continue
        if ch == "[":
            if have_name:
                parts.append("".join(name))
                name, have_name = [], False
            if not parts:
                raise ValueError("a list index needs a key before it")
            end = key.find("]", i)
            if end < 0:
                raise ValueError("missing ']'")
            inner = key[i + 1:end].strip()
            if inner == "":
                parts.append(None)
            elif inner.isdigit():
                parts.append(int(inner))
            else:
                raise ValueError(f"list index {inner!r} is not a number")
            i = end + 1
            if i < n and key[i] not in ".[":
                raise ValueError("expected '.' or '[' after ']'")
            continue
        if ch == "]":
            raise ValueError("unmatched ']'")
        name.append(ch)
        have_name = True
        i += 1
    if have_name:
        parts.append("".join(name))
    if not parts:
        raise ValueError("empty key")
    if not isinstance(parts[0], str):
        raise ValueError("a key must start with a name")
    return parts


def parse_value(text: str) -> Any:
    """The value of ``-o KEY=VALUE`` as YAML: scalars typed, ``{...}``/``[...]`` as YAML nodes."""
    import yaml

    stripped = text.strip()
    if stripped == "":
        return ""
    try:
        value = yaml.safe_load(stripped)
    except yaml.YAMLError:
        if stripped[0] in "{[":
            raise ValueError("the value is not valid YAML") from None
        return text
    if isinstance(value, (dict, list)) and stripped[0] not in "{[":
        return text  # "a: b" or "- x" without braces: a plain string, as Falco reads it
    if value is None and stripped not in ("~", "null", "Null", "NULL"):
        return text
    return value


def apply_override(data: dict[str, Any], item: str) -> list[str | int | None]:
    """Apply one ``KEY=VALUE`` item to ``data`` in place and return the parsed key path."""
    place = f"-o {item}"
    if "=" not in item:
        raise ConfigError(f"{place}: expected KEY=VALUE, e.g. -o json_output=true")
    raw_key, raw_value = item.split("=", 1)
    raw_key = raw_key.strip()
    try:
        path = parse_key_path(raw_key)
    except ValueError as exc:
        raise ConfigError(f"{place}: bad key ({exc}); write a.b.c, a.b[0] or a[] to append") from None
    try:
        value = parse_value(raw_value)
    except ValueError as exc:
        raise ConfigError(f"{place}: {exc}; quote the whole item, e.g. -o 'key={{a: 1}}'") from None
    top = path[0]
    assert isinstance(top, str)
    if top not in KNOWN_TOP_KEYS:
        hint = _suggest(top, KNOWN_TOP_KEYS)
        if hint:
            raise ConfigError(f"{place}: unknown config key {top!r}{hint}")
    dotted = ".".join(p for p in path if isinstance(p, str)) if all(isinstance(p, str) for p in path) else None
    if dotted is not None:
        kind = KEY_TYPES.get(dotted)
        if kind is None and len(path) > 1:
            parent = ".".join(path[:-1])  # type: ignore[arg-type]
            if KEY_TYPES.get(parent) == "dict":
                siblings = {k.split(".")[-1] for k in KEY_TYPES if k.startswith(parent + ".")}
                if siblings and path[-1] not in siblings:
                    raise ConfigError(f"{place}: unknown key {path[-1]!r} in {parent}{_suggest(str(path[-1]), siblings)}; "
                                      f"known: {', '.join(sorted(siblings))}")
        if kind is not None:
            value = _check_value(dotted, value, kind, place)
    _set_path(data, path, value, place)
    return path


def _set_path(data: dict[str, Any], path: list[str | int | None], value: Any, place: str) -> None:
    node: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        following = None if last else path[i + 1]
        if isinstance(part, str):
            if not isinstance(node, dict):
                raise ConfigError(f"{place}: {_describe(path[:i])} is not a mapping; cannot set key {part!r} in it")
            if last:
                node[part] = value
                return
            child = node.get(part)
            if child is None or (isinstance(following, str) and not isinstance(child, dict)) \
                    or (not isinstance(following, str) and not isinstance(child, list)):
                child = {} if isinstance(following, str) else []
                node[part] = child
            node = child
        else:
            if not isinstance(node, list):
                raise ConfigError(f"{place}: {_describe(path[:i])} is not a list; cannot index it")
            if part is None:  # append
                if last:
                    node.append(value)
                    return
                child = {} if isinstance(following, str) else []
                node.append(child)
                node = child
                continue
            if part > len(node):
                raise ConfigError(f"{place}: index {part} is past the end of {_describe(path[:i])} "
                                  f"(it has {len(node)} items); use [] to append")
            if part == len(node):
                node.append({} if isinstance(following, str) else [] if not last else None)
            if last:
                node[part] = value
                return
            child = node[part]
            if isinstance(following, str) and not isinstance(child, dict):
                child = {}
                node[part] = child
            elif not isinstance(following, str) and not isinstance(child, list):
                child = []
                node[part] = child
            node = child


def _describe(path: list[str | int | None]) -> str:
    out = ""
    for part in path:
        if isinstance(part, str):
            out += ("." if out else "") + part
        elif part is None:
            out += "[]"
        else:
            out += f"[{part}]"
    return out or "the config"


# ---------------------------------------------------------------------------
# Rules files


def bundled_rules_dir() -> Path | None:
    """pdigpy's own rules: <checkout>/rules (editable installs) or <prefix>/share/pdigpy/rules."""
    import sys

    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "rules", here / "rules", Path(sys.prefix) / "share" / "pdigpy" / "rules"):
        if candidate.is_dir():
            return candidate
    return None


def default_rules_paths() -> list[str]:
    """The bundled rules directory, then the local overrides file if present."""
    paths: list[str] = []
    bundled = bundled_rules_dir()
    if bundled is not None:
        paths.append(str(bundled))
    if os.path.isfile(LOCAL_RULES):
        paths.append(LOCAL_RULES)
    return paths


def expand_rules_paths(paths: list[str], origin: str) -> list[str]:
    """Files as given; directories replaced by their *.yaml/*.yml files in name order.

    ``origin`` names where the paths came from (``-r``, the config file) for errors.
    """
    files: list[str] = []
    for path in paths:
        p = Path(os.path.expanduser(path))
        if p.is_dir():
            entries = sorted(e for e in p.iterdir() if e.is_file() and e.name.endswith(RULES_FILE_SUFFIXES))
            files.extend(str(e) for e in entries)
        elif p.is_file():
            files.append(str(p))
        elif p.exists():
            raise ConfigError(f"{origin} {path}: not a regular file or directory; give a rules YAML file or a directory of them")
        else:
            raise ConfigError(f"{origin} {path}: no such rules file or directory; check the path")
    return files


def resolve_rules_files(cli_rules: list[str] | None, config: Config) -> list[str]:
    """Falco's order: ``-r`` paths if any, else the config's rules_files, else pdigpy's defaults."""
    if cli_rules:
        return expand_rules_paths(cli_rules, "-r")
    configured = config.data.get("rules_files") or []
    if configured:
        return expand_rules_paths(list(configured), f"{config.source}: rules_files:")
    defaults = default_rules_paths()
    if not defaults:
        raise ConfigError("no rules: pdigpy's bundled rules/ directory was not found; give rules with -r PATH")
    return expand_rules_paths(defaults, "default rules")
