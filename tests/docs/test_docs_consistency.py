"""Facts the docs state about the code, checked against the code, so the two cannot drift apart."""

from __future__ import annotations

import re
import signal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pdigpy"


def _section(doc: str, heading: str) -> str:
    text = (REPO / "docs" / doc).read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end != -1 else None]


def _map_entries() -> list[str]:
    """Module paths named in the package map of docs/architecture.md, relative to pdigpy/."""
    entries = []
    for line in _section("architecture.md", "## 6. Map of the package").splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        directory = ""
        for name in re.findall(r"`([^`]+)`", cell):
            if "/" in name:
                parent = name.rstrip("/").rpartition("/")[0]
                directory = parent + "/" if parent else ""
                entries.append(name)
            else:
                entries.append(directory + name)
    return entries


def test_the_package_map_names_only_modules_that_exist():
    entries = _map_entries()
    assert len(entries) > 40
    for entry in entries:
        assert (PACKAGE / entry).exists(), f"docs/architecture.md names pdigpy/{entry}, which does not exist"


def test_the_package_map_covers_every_module():
    entries = _map_entries()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name in ("__init__.py", "__main__.py"):
            continue
        if not any(rel == e or (e.endswith("/") and rel.startswith(e)) for e in entries):
            missing.append(rel)
    assert not missing, f"modules missing from the package map in docs/architecture.md: {missing}"


def test_the_forwarded_signals_are_the_tracers():
    from pdigpy.tracer.signals import FORWARDED

    text = _section("fargate.md", "## 6. PID 1")
    bullet = text[text.index("**Signals are forwarded.**"):text.index("pdigpy itself does not stop")]
    named = {getattr(signal, n) for n in re.findall(r"\bSIG[A-Z0-9]+\b", bullet)}
    assert named == set(FORWARDED)


def test_the_ci_exit_status_is_the_clis():
    from pdigpy.cli import EXIT_ALERTS, EXIT_USAGE

    text = (REPO / "docs" / "ci.md").read_text()
    assert f"| **{EXIT_ALERTS}** |" in text and f"| {EXIT_USAGE} |" in text


def test_the_fargate_guide_names_the_example_files():
    text = (REPO / "docs" / "fargate.md").read_text()
    example = REPO / "examples" / "fargate"
    for path in example.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"`{path.relative_to(example).as_posix()}`" in text, f"docs/fargate.md does not mention {path}"
