"""Start-up cost: modules only some runs need are imported only by those runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _imported_modules(*pdigpy_args: str, cwd: Path) -> set[str]:
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "pdigpy", *pdigpy_args],
                         capture_output=True, text=True, cwd=cwd, timeout=120)
    assert res.returncode == 0, res.stderr
    return {line.split("|")[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}


def test_a_plain_run_imports_neither_junit_nor_difflib(tmp_path):
    modules = _imported_modules("--", "true", cwd=tmp_path)
    assert "pdigpy.app" in modules  # the probe sees pdigpy's own imports
    assert "pdigpy.report.junit" not in modules
    assert "xml.etree.ElementTree" not in modules
    assert "difflib" not in modules


def test_junit_xml_imports_the_junit_report(tmp_path):
    modules = _imported_modules("--junit-xml", str(tmp_path / "j.xml"), "--", "true", cwd=tmp_path)
    assert "pdigpy.report.junit" in modules
    assert (tmp_path / "j.xml").is_file()
