"""Reading the output keys of the configuration, with one clear error per bad key.

The configuration arrives as a nested dict shaped like falco.yaml (after ``-o``
overrides). This module knows how to read a value at a dotted key, convert it
(``-o`` values may still be strings) and complain with a :class:`ConfigError`
that names the key and the fix. The channel and forwarder modules describe
their own keys with these helpers; :mod:`pdigpy.outputs.settings` reads the
keys shared by every sink.
"""

from __future__ import annotations

from typing import Any, Iterable

from pdigpy.engine.priority import Priority

try:  # one error class for the whole CLI when the product's config module is there
    from pdigpy.config import ConfigError as _BaseConfigError
except ImportError:  # pragma: no cover - the outputs package also works on its own
    _BaseConfigError = Exception  # type: ignore[misc,assignment]


class ConfigError(_BaseConfigError, ValueError):  # type: ignore[misc,valid-type]
    """A bad output setting; ``str()`` is one line: ``<key>: <problem>; <fix>``."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


class Section:
    """A mapping of keys under a dotted path, read with type conversion and named errors."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path, f"expected a mapping of keys, got {data!r}; write it as '{path}: {{key: value}}'")
        self.data = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str, default: Any = None) -> Any:
        value = self.data.get(name)
        return default if value is None else value

    def section(self, name: str) -> Section:
        return Section(self.data.get(name), self.key(name))

    def bool(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(self.key(name), f"expected true or false, got {value!r}")

    def str(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(self.key(name), f"expected a string, got {value!r}")

    def required_str(self, name: str, hint: str) -> str:
        value = self.str(name).strip()
        if not value:
            raise ConfigError(self.key(name), f"is required; {hint}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0, integer: bool = False) -> float:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            try:
                value = float(value) if not integer else int(value, 0)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            kind = "an integer" if integer else "a number"
            raise ConfigError(self.key(name), f"expected {kind}, got {self.data.get(name)!r}")
        if value < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum:g}, got {value!r}")
        return value

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        """A word from ``choices`` (matched case-insensitively), returned in the spelling of ``choices``."""
        value = self.str(name, default)
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
        raise ConfigError(self.key(name), f"unknown value {value!r}; use one of: {', '.join(choices)}")

    def priority(self, name: str) -> Priority:
        """falcosidekick's ``minimumpriority``: empty means every alert passes."""
        value = self.str(name, "")
        if not value.strip():
            return Priority.DEBUG
        try:
            return Priority.parse(value)
        except ValueError as exc:
            raise ConfigError(self.key(name), str(exc)) from None

    def mapping(self, name: str) -> dict[str, str]:
        """A map of strings; ``-o`` may also give it as ``"k:v,k2:v2"`` like falcosidekick's env form."""
        value = self.data.get(name)
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            pairs = {}
            for item in value.split(","):
                k, sep, v = item.partition(":")
                if not sep or not k.strip():
                    raise ConfigError(self.key(name), f"expected 'key:value,key2:value2' or a mapping, got {value!r}")
                pairs[k.strip()] = v.strip()
            return pairs
        if not isinstance(value, dict):
            raise ConfigError(self.key(name), f"expected a mapping of strings, got {value!r}")
        return {str(k): "" if v is None else str(v) for k, v in value.items()}

    def check_keys(self, known: Iterable[str]) -> None:
        """Reject keys this section does not know (typos in pdigpy's own blocks)."""
        known = sorted(known)
        for name in self.data:
            if name not in known:
                import difflib  # only for a "did you mean": keep it off the start-up path

                close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
                fix = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
                raise ConfigError(self.key(str(name)), f"unknown key; {fix}")
