"""pdigpy's command line: Falco's flags, plus the few a ptrace wrapper needs.

Only argument parsing and dispatch live here; the work is in
:mod:`pdigpy.app`. Imports of the heavy layers are deferred so that
``pdigpy --version`` and ``pdigpy -h`` start fast.

Exit codes (documented in README.md):

- the traced app's own code (0-255; 128+N when killed by signal N; 126/127
  when the command cannot be executed) -- always passed through;
- :data:`EXIT_ALERTS` (86) with ``--fail-on PRIORITY`` when the app exited 0
  but an alert at or above PRIORITY fired;
- 2: bad flags, config, ``-o`` value or rules (nothing was run);
- 1: ``-V`` found an invalid rules file, or ``-p PID`` cannot be attached.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

EXIT_ALERTS = 86  # not used by shells (126/127, 128+N), pytest (0-5), sysexits (64-78), Rust (101)
EXIT_USAGE = 2

_EPILOG = """\
examples:
  pdigpy -- ./myapp --port 8080          trace a program, alerts on stderr
  pdigpy -r my_rules.yaml -o json_output=true -o file_output.enabled=true \\
         -o file_output.filename=alerts.jsonl -- ./myapp
  pdigpy --fail-on warning --junit-xml pdigpy.xml -- python -m pytest
  pdigpy -p 1234 --follow                 attach to a running process
  pdigpy replay capture.jsonl -r rules/   re-evaluate a capture (--events FILE)
  pdigpy -V my_rules.yaml                 validate rules files

exit status: the app's own (128+N on signal N, 126/127 if it cannot run);
86 with --fail-on when the app succeeded but an alert fired; 2 on bad usage,
config or rules; 1 if -V finds an invalid rules file or -p cannot attach.
"""


def _columns() -> int:
    """``shutil.get_terminal_size().columns``, written out: argparse's formatter imports shutil
    (and with it bz2, lzma, fnmatch: ~2 ms of every start) only to ask this."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


class _RawFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line that says where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


class UsageError(Exception):
    """A flag combination that argparse cannot express; the message is one line."""


def _add_common(p: argparse.ArgumentParser) -> None:
    """Flags shared by the live run and ``replay``."""
    p.add_argument("-r", dest="rules", action="append", metavar="PATH",
                   help="rules file or directory (repeatable, loaded in order; directories in name order). "
                        "Default: the config's rules_files, else pdigpy's bundled rules/ then "
                        "/etc/pdigpy/pdigpy_rules.local.yaml if present")
    p.add_argument("-c", dest="config", metavar="CONFIG",
                   help="config file with falco.yaml keys (default: $PDIGPY_CONFIG, else "
                        "/etc/pdigpy/pdigpy.yaml if present, else built-in defaults)")
    p.add_argument("-o", "--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, Falco's syntax: a.b=v, a[0]=v, a[]=v (append); "
                        "the value is YAML (repeatable)")
    p.add_argument("--fail-on", metavar="PRIORITY",
                   help=f"exit {EXIT_ALERTS} if the app succeeded but an alert at or above PRIORITY "
                        "(e.g. warning) fired; the app's own failure code always wins")
    p.add_argument("--junit-xml", metavar="FILE", help="write the alerts as JUnit XML failing test cases")
    summary = p.add_mutually_exclusive_group()
    summary.add_argument("--summary", dest="summary", action="store_const", const="always",
                         help="print the summary of fired rules on stderr at exit, even if none fired")
    summary.add_argument("--no-summary", dest="summary", action="store_const", const="never",
                         help="no summary at exit (default: printed when an alert fired)")
    p.add_argument("--stats-interval", type=_positive_float, metavar="N",
                   help="print counters every N seconds (to --stats-file if given, else stderr)")
    p.add_argument("--stats-file", metavar="FILE", help="write counters as JSON lines to FILE")
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="verbose: say what was loaded, and a final counters line at exit")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pdigpy",
        usage="pdigpy [options] -- COMMAND [ARGS...]\n       pdigpy [options] -p PID\n"
              "       pdigpy replay CAPTURE [options]\n       pdigpy -V RULES... | -L | --list[=SOURCE] | --version",
        description="Falco-compatible threat detection for one program, from userspace, with ptrace and seccomp.",
        epilog=_EPILOG,
        formatter_class=_RawFormatter,
        allow_abbrev=False,
    )
    _add_common(p)
    p.add_argument("-V", "--validate", dest="validate", action="extend", nargs="+", metavar="FILE",
                   help="validate rules files and exit (0 if all are valid, else 1); JSON with -o json_output=true")
    p.add_argument("-L", dest="list_rules", action="store_true", help="list the loaded rules with their descriptions and exit")
    p.add_argument("--list", dest="list_fields", nargs="?", const="", metavar="SOURCE",
                   help="list every field with its type and description and exit (--list=syscall: that source only)")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("-p", dest="pid", type=_pid, metavar="PID", help="attach to a running process instead of starting one")
    p.add_argument("--follow", action="store_true", help="with -p: trace the process's future descendants too")
    p.add_argument("--no-seccomp", action="store_true",
                   help="stop at every syscall instead of filtering with seccomp (slower; for kernels without it)")
    p.add_argument("--print-filter", action="store_true",
                   help="print the traced syscalls, each with the rules (or 'state') that need it, and exit")
    p.add_argument("--events", metavar="FILE", help="write every event to a capture file for `pdigpy replay` ('-' for stderr)")
    return p


def build_replay_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pdigpy replay",
        usage="pdigpy replay CAPTURE [options]",
        description="Read a capture written with --events back through a fresh state and the same rules and outputs.",
        formatter_class=_Formatter,
        allow_abbrev=False,
    )
    p.add_argument("capture", metavar="CAPTURE", help="capture file written by pdigpy --events")
    _add_common(p)
    return p


# The stats thread waits this long at most per interval; a larger (or infinite) wait overflows
# the thread's timer, and an interval longer than a day is never what was meant.
MAX_STATS_INTERVAL = 86400.0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    if not value <= MAX_STATS_INTERVAL:  # also inf
        raise argparse.ArgumentTypeError(f"expected at most {MAX_STATS_INTERVAL:.0f} seconds (a day), got {text!r}")
    return value


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a process id (a positive number), got {text!r}")
    return int(text)


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Options before the first ``--``, the command after it (None when there is no ``--``)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pdigpy`` command; returns the exit status.

    Called without ``argv``, as the ``pdigpy`` script and ``python -m pdigpy`` call it, it is the
    program: it does not return but ends the process with the status (:func:`_exit_now`).
    """
    if argv is None:
        import gc

        # Start-up builds what lives until exit (modules, rules, compiled conditions) and frees
        # little: the cyclic collector would rescan it over and over (~6 ms with no rules, ~28 ms
        # with the upstream ones). app.run and app.replay freeze it and turn the collector back on.
        gc.disable()
        _exit_now(_run(sys.argv[1:]))
    return _run(list(argv))


def _exit_now(code: int) -> NoReturn:
    """End the process with ``code``, without the interpreter's teardown.

    By now everything pdigpy writes is flushed and closed (outputs, capture, reports, stats) and
    its threads are daemons; the teardown would only free every module, rule and compiled
    condition one object at a time: 15-40 ms CPU (more with more rules) on every traced command.
    atexit callbacks still run. If a thread that is not a daemon is alive (none of pdigpy's is),
    the normal exit waits for it as usual.
    """
    import atexit
    import threading

    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)  # CPython's; elsewhere: the normal exit
    main_thread = threading.main_thread()
    if run_exitfuncs is None or any(t.is_alive() and not t.daemon and t is not main_thread
                                    for t in threading.enumerate()):
        sys.exit(code)
    run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left before the last lines: as main() reports it
        code = 1
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _run(argv: list[str]) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `pdigpy --list | head`: the reader left; not an error worth a message
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug in pdigpy: one line, the traceback only when asked for
        if "-v" in argv[: argv.index("--") if "--" in argv else len(argv)]:
            raise
        print(f"pdigpy: internal error: {exc.__class__.__name__}: {exc} (rerun with -v for the traceback)",
              file=sys.stderr)
        return EXIT_USAGE


def _main(argv: list[str]) -> int:
    from pdigpy.config import ConfigError

    err = sys.stderr
    if argv and argv[0] == "replay":
        args = build_replay_parser().parse_args(argv[1:])
        try:
            _check_common(args)
            from pdigpy import app
            return app.replay(args)
        except (ConfigError, UsageError) as exc:
            print(f"pdigpy: {exc}", file=err)
            return EXIT_USAGE

    before, command = split_command(argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(before)
    if extra:
        if any(word.startswith("-") for word in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        parser.error(f"put the command to trace after --, e.g. pdigpy [options] -- {' '.join(extra)}")
    args.command = command
    if args.version:
        from pdigpy import __version__
        print(f"pdigpy {__version__}")
        return 0
    try:
        _check_common(args)
        mode = _mode(args)
        from pdigpy import app
        if mode == "validate":
            return app.validate(args)
        if mode == "list_rules":
            return app.list_rules(args)
        if mode == "list_fields":
            return app.list_fields(args)
        if mode == "print_filter":
            return app.print_filter(args)
        return app.run(args)
    except (ConfigError, UsageError) as exc:
        print(f"pdigpy: {exc}", file=err)
        return EXIT_USAGE


def _check_common(args: argparse.Namespace) -> None:
    if args.fail_on is not None:
        from pdigpy.engine.priority import Priority
        try:
            args.fail_on_priority = Priority.parse(args.fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
    else:
        args.fail_on_priority = None
    if getattr(args, "junit_xml", None):
        _check_writable(args.junit_xml, "--junit-xml")


def _check_writable(path: str, flag: str) -> None:
    """Find an unwritable report path before the app runs, not after (a CI job would lose its
    report and pass). The file itself is written at the end; only its directory is checked."""
    import os

    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: cannot write (it is a directory); give a file path")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{flag} {path}: cannot write (no such directory {directory}); create it or give another path")
    if (os.path.exists(path) and not os.access(path, os.W_OK)) or not os.access(directory, os.W_OK):
        raise UsageError(f"{flag} {path}: cannot write (permission denied); give a writable path")


def _mode(args: argparse.Namespace) -> str:
    """Which one thing to do; a command with an exit-early flag is a usage error."""
    early = [name for name, on in (("validate", bool(args.validate)), ("list_rules", args.list_rules),
                                   ("list_fields", args.list_fields is not None), ("print_filter", args.print_filter)) if on]
    flags = {"validate": "-V", "list_rules": "-L", "list_fields": "--list", "print_filter": "--print-filter"}
    if len(early) > 1 and set(early) != {"validate", "list_rules"}:
        raise UsageError(f"{' and '.join(flags[m] for m in early)} cannot be combined; give one of them")
    if early:
        if args.command is not None and early[0] != "print_filter":
            raise UsageError(f"{flags[early[0]]} does not run a command; drop the `-- {' '.join(args.command)}` part")
        return early[0]
    if args.command is not None and args.pid is not None:
        raise UsageError("give either -p PID or -- COMMAND, not both")
    if args.command is None and args.pid is None:
        raise UsageError("nothing to trace: put the command after --, e.g. `pdigpy -- ./myapp`, or attach with -p PID")
    if args.command is not None and not args.command:
        raise UsageError("nothing after --: give the command to trace, e.g. `pdigpy -- ./myapp`")
    if args.follow and args.pid is None:
        raise UsageError("--follow goes with -p PID (a started command is always followed with its children)")
    return "run"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
