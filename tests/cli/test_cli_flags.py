"""Flag parsing and usage errors of the real ``pdigpy`` command (no tracing needed)."""

from __future__ import annotations

import pytest

from pdigpy import __version__
from pdigpy.cli import EXIT_ALERTS, build_parser, split_command


def test_version(pdigpy):
    res = pdigpy("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"pdigpy {__version__}"


def test_help_lists_falco_flags_and_exit_codes(pdigpy):
    res = pdigpy("-h")
    assert res.returncode == 0
    for flag in ("-r PATH", "-c CONFIG", "-o KEY=VALUE", "-V", "-L", "--list", "-p PID", "--follow",
                 "--no-seccomp", "--print-filter", "--events", "--fail-on", "--junit-xml", "--summary",
                 "--no-summary", "--stats-interval", "--stats-file", "-v"):
        assert flag in res.stdout, flag
    assert str(EXIT_ALERTS) in res.stdout


def test_exit_alerts_code_avoids_common_codes():
    taken = set(range(0, 6)) | set(range(64, 79)) | {77, 99, 101, 125, 126, 127, 255} | set(range(128, 166))
    assert EXIT_ALERTS not in taken


def test_split_on_first_double_dash_only():
    before, cmd = split_command(["-r", "x", "--", "prog", "--", "-r"])
    assert before == ["-r", "x"] and cmd == ["prog", "--", "-r"]
    assert split_command(["-L"]) == (["-L"], None)


def test_parser_accepts_the_documented_form():
    args = build_parser().parse_args(["-r", "a.yaml", "-r", "dir", "-o", "json_output=true",
                                      "-o", "file_output.enabled=true", "--list=syscall", "-V", "x.yaml", "y.yaml"])
    assert args.rules == ["a.yaml", "dir"]
    assert args.options == ["json_output=true", "file_output.enabled=true"]
    assert args.list_fields == "syscall"
    assert args.validate == ["x.yaml", "y.yaml"]
    assert build_parser().parse_args(["--list"]).list_fields == ""


@pytest.mark.parametrize(
    "argv, words",
    [
        ([], ["nothing to trace", "pdigpy -- ./myapp"]),
        (["--bogus", "--", "true"], ["unrecognized arguments: --bogus"]),
        (["--"], ["nothing after --"]),
        (["./myapp", "arg"], ["put the command to trace after --", "pdigpy [options] -- ./myapp arg"]),
        (["-p", "abc"], ["-p", "process id"]),
        (["-p", "1", "--", "true"], ["either -p PID or -- COMMAND"]),
        (["--follow", "--", "true"], ["--follow goes with -p"]),
        (["--fail-on", "sometimes", "--", "true"], ["--fail-on", "unknown priority", "warning"]),
        (["--stats-interval", "0", "--", "true"], ["--stats-interval", "positive"]),
        (["-L", "--list"], ["cannot be combined"]),
        (["-L", "--", "true"], ["-L does not run a command"]),
        (["-o", "json_output=maybe", "--", "true"], ["-o json_output=maybe", "true or false"]),
        (["-o", "json_ouput=true", "--", "true"], ["did you mean 'json_output'"]),
        (["-c", "/nonexistent/pdigpy.yaml", "--", "true"], ["/nonexistent/pdigpy.yaml", "not found"]),
        (["-r", "/nonexistent/rules.yaml", "--", "true"], ["-r /nonexistent/rules.yaml", "no such rules file"]),
        (["--summary", "--no-summary", "--", "true"], ["not allowed with"]),
    ],
)
def test_usage_errors_are_one_line_exit_2_no_traceback(pdigpy, argv, words):
    res = pdigpy(*argv)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert lines[0].startswith("pdigpy")
    for word in words:
        assert word in lines[0]


def test_bad_config_env_names_the_variable(pdigpy, tmp_path):
    res = pdigpy("--", "true", env={"PDIGPY_CONFIG": str(tmp_path / "missing.yaml")})
    assert res.returncode == 2
    assert "$PDIGPY_CONFIG" in res.stderr and "missing.yaml" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
