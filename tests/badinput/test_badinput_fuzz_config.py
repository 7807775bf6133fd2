"""Fuzzing the config loader: random YAML documents and random ``-o`` items.

Every input ends in a Config or a ConfigError whose message is one line naming the file or the
``-o`` item; never another exception, never a hang. A loaded Config keeps the checked keys'
types (what app.py relies on without re-checking). Fixed example counts, derandomized, so the
suite runs the same inputs each time (each test well under 10 s).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdigpy.config import KEY_TYPES, KNOWN_TOP_KEYS, Config, ConfigError, apply_override, load_config

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KNOWN_PATHS = sorted(KEY_TYPES)
KEY_WORDS = sorted(KNOWN_TOP_KEYS) + ["filename", "enabled", "capacity", "url", "x", "", "a.b", "[0]"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["true", "maybe", "warning", "loud", "-1", "0x10"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEY_WORDS), inner, max_size=4)), max_leaves=12)
documents = st.dictionaries(st.sampled_from(KEY_WORDS), values, max_size=6)
# Dotted known keys set to random values: the type checks themselves get exercised.
typed_documents = st.lists(st.tuples(st.sampled_from(KNOWN_PATHS), values), max_size=5)


def _nest(pairs: list[tuple[str, object]]) -> dict:
    doc: dict = {}
    for dotted, value in pairs:
        node = doc
        *parents, last = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return doc


def _without(message: str, items: list[str]) -> str:
    for item in items:
        message = message.replace(item, "")
        for part in item.split("=", 1):
            message = message.replace(part, "")
    return message


def _check_loaded(config: Config) -> None:
    assert isinstance(config.data, dict)
    files = config.data.get("rules_files")
    assert isinstance(files, list) and all(isinstance(f, str) for f in files)
    for section in ("stdout_output", "stderr_output", "file_output", "http_output"):
        assert isinstance(config.data.get(section), dict), section


def _load_text(text: str | bytes, overrides: list[str] = ()) -> None:
    with tempfile.NamedTemporaryFile("wb", suffix=".yaml") as fh:
        fh.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        fh.flush()
        try:
            config = load_config(fh.name, list(overrides), environ={})
        except ConfigError as exc:
            message = str(exc)
            assert "\n" not in message, message
            assert Path(fh.name).name in message or any(o in message for o in overrides) \
                or message.split(":")[0] in KNOWN_TOP_KEYS | {"-o"}, message
            return
    _check_loaded(config)


@SETTINGS
@given(documents)
def test_random_documents_load_or_fail_cleanly(doc) -> None:
    _load_text(yaml.safe_dump(doc, allow_unicode=True))


@SETTINGS
@given(typed_documents)
def test_known_keys_with_random_values_load_or_fail_cleanly(pairs) -> None:
    _load_text(yaml.safe_dump(_nest(pairs), allow_unicode=True))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_random_bytes_and_text_load_or_fail_cleanly(raw) -> None:
    _load_text(raw)


KEY_CHARS = st.sampled_from(list("ab.[]\\0 =") + ["file_output", "json_output", "rules_files", "[]", "[1]", "\\."])
override_keys = st.one_of(st.sampled_from(KNOWN_PATHS), st.lists(KEY_CHARS, max_size=8).map("".join))
override_values = st.one_of(st.sampled_from(["true", "maybe", "5", "-5", "{a: [", "[1, 2]", "{a: 1}", "", "~",
                                             "a: b", "- x", "'q", "loud", "warning", "http://127.0.0.1:1/"]),
                            st.text(max_size=10))
overrides = st.lists(st.one_of(st.tuples(override_keys, override_values).map(lambda kv: f"{kv[0]}={kv[1]}"),
                               st.text(max_size=15)), max_size=4)


@SETTINGS
@given(overrides)
def test_random_overrides_apply_or_fail_cleanly(items) -> None:
    try:
        config = load_config(None, items, environ={})
    except ConfigError as exc:
        message = str(exc)
        # The item is echoed as given: a newline the user typed in it is theirs, not a second line.
        assert "\n" not in _without(message, items), message
        assert message.startswith("-o ") or message.split(":")[0] in KNOWN_TOP_KEYS | {"built-in defaults"}, message
        return
    _check_loaded(config)


@SETTINGS
@given(override_keys, override_values)
def test_single_override_names_its_item(key, value) -> None:
    item = f"{key}={value}"
    data: dict = {"file_output": {"enabled": False}, "rules_files": []}
    try:
        apply_override(data, item)
    except ConfigError as exc:
        assert str(exc).startswith(f"-o {item}:"), str(exc)
