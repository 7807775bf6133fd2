"""The wiring: tracer -> state -> rule engine -> outputs, plus the end-of-run reports.

One :class:`Pipeline` is the tracer's event sink. For each event it counts
it, writes it to the capture (``--events``), lets the state update its tables
(which also resolves ``evt.thread``/``evt.fdinfo``), asks the rule engine for
alerts and hands them to the output hub. ``pdigpy replay`` feeds a capture's
records through the same Pipeline, with a fresh State, so a replay raises the
alerts the live run raised.

Every function here returns an exit status; user errors raise
:class:`pdigpy.config.ConfigError` (one line, exit 2 in the CLI).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, TextIO

from pdigpy.cli import EXIT_ALERTS
from pdigpy.config import Config, ConfigError, load_config, resolve_rules_files


def _log(msg: str) -> None:
    print(f"pdigpy: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Building the layers


def _load_config(args: argparse.Namespace) -> Config:
    config = load_config(args.config, args.options)
    for warning in config.warnings:
        _log(f"warning: {warning}")
    return config


def _make_state(header: dict[str, Any] | None = None):
    from pdigpy.state.tables import State

    return State() if header is None else State.from_capture_header(header)


def _make_engine(config: Config, state=None, container=None, hostname: str | None = None):
    """A RuleEngine over a field registry bound to ``state``, configured from falco.yaml keys."""
    from pdigpy.engine.engine import RuleEngine
    from pdigpy.engine.fields.registry import FieldRegistry
    from pdigpy.engine.priority import Priority

    registry = FieldRegistry(state, container)
    append_output = config.data.get("append_output") or []
    if not isinstance(append_output, list):
        raise ConfigError(f"{config.place_of('append_output')}: append_output: expected a list of {{match: ..., extra_output: ...}} entries")
    try:
        engine = RuleEngine(registry, min_priority=Priority.parse(str(config.data.get("priority", "debug"))),
                            rule_matching=str(config.data.get("rule_matching", "first")).lower(),
                            append_output=append_output, hostname=hostname)
    except ValueError as exc:
        key = "append_output" if str(exc).startswith("append_output") else "rule_matching"
        raise ConfigError(f"{config.place_of(key)}: {exc}") from None
    return engine, registry


def _apply_rule_selection(engine, config: Config) -> None:
    """falco.yaml ``rules:`` — enable/disable by rule name wildcard or tag, in order, after loading."""
    selection = config.data.get("rules") or []
    if not selection:
        return
    try:
        engine.apply_rules_selection(selection)
    except ValueError as exc:
        raise ConfigError(f"{config.place_of('rules')}: {exc}") from None


def _load_rules(engine, files: list[str], verbose: int) -> None:
    """Load for a run: errors are fatal (Falco's report on stderr, exit 2); warnings shown with -v."""
    result = engine.load_files(files)
    if not result.ok:
        sys.stderr.write(result.report_text().rstrip("\n") + "\n")
        raise ConfigError("the rules have errors (above); fix them, and check a file with pdigpy -V FILE")
    if verbose:
        warnings = result.log_text()
        if warnings:
            sys.stderr.write(warnings.rstrip("\n") + "\n")
        _log(f"loaded {len(engine.enabled_rules)} enabled rules from {len(files)} file{'s' if len(files) != 1 else ''}: "
             f"{', '.join(files)}")
    elif result.warnings:
        _log(f"the rules loaded with {len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''}; "
             "see them with pdigpy -V FILE or -v")


def _enabled_rule_names(engine) -> list[str]:
    return [r.name for r in engine.enabled_rules]


def _make_hub(config: Config):
    """The outputs; their ConfigError is a pdigpy.config.ConfigError naming the key."""
    from pdigpy.outputs import OutputHub

    return OutputHub.from_config(config.data)


# ---------------------------------------------------------------------------
# The pipeline


class Pipeline:
    """The tracer's EventSink: capture -> state -> engine -> reports -> outputs."""

    def __init__(self, state, engine, hub, stats, summary, junit, capture=None) -> None:
        self.state = state
        self.engine = engine
        self.hub = hub
        self.stats = stats
        self.summary = summary
        self.junit = junit
        self.capture = capture
        self.fail_threshold = None
        self.failing_alerts = 0

    def on_snapshot(self, info) -> None:
        if self.capture is not None:
            try:
                self.capture.write_snapshot(info)
            except (OSError, ValueError) as exc:
                self._capture_failed(exc)
        self.state.add_snapshot(info)

    # Hot path: one call per traced syscall; no lookups beyond attribute access.
    def on_event(self, evt) -> None:
        self.stats.count_event(evt.type)
        if self.capture is not None:
            try:
                self.capture.write_event(evt)
            except (OSError, ValueError) as exc:
                self._capture_failed(exc)
        self.state.apply(evt)
        alerts = self.engine.evaluate(evt)
        if alerts:
            for alert in alerts:
                self._raise(alert)

    def _capture_failed(self, exc: Exception) -> None:
        """A full disk must not stop the tracing: say so once and stop capturing."""
        capture, self.capture = self.capture, None
        _log(f"--events {getattr(capture, 'name', '')}: cannot write ({exc}); capture stopped, tracing goes on")
        try:
            capture.close()
        except (OSError, ValueError):
            pass

    def _raise(self, alert) -> None:
        self.stats.count_alert(alert.rule)
        self.summary.record(alert)
        if self.junit is not None:
            self.junit.record(alert)
        if self.fail_threshold is not None and alert.priority <= self.fail_threshold:
            self.failing_alerts += 1
        self.hub.submit(alert)


def _open_capture(path: str, meta: dict[str, Any], users):
    from pdigpy.events.capture import CaptureWriter

    try:
        writer = CaptureWriter(sys.stderr if path == "-" else path)
    except OSError as exc:
        raise ConfigError(f"--events {path}: cannot write ({exc.strerror or exc}); give a writable path") from None
    writer.write_header(meta, users=users)  # users: a replay names users as this host did
    return writer


def _detect_container():
    """pdigpy's own container (ECS task metadata), or None; a broken endpoint is a warning only."""
    if not os.environ.get("ECS_CONTAINER_METADATA_URI_V4"):  # container.ECS_ENV: off ECS, no import
        return None
    from pdigpy.engine.fields.container import ContainerMetadataError, detect_container

    try:
        return detect_container()
    except ContainerMetadataError as exc:
        _log(f"warning: {exc}; container.* fields fall back to cgroup ids")
        return None


def _container_from_header(header: dict[str, Any] | None):
    from pdigpy.engine.fields.container import ContainerMeta

    data = ((header or {}).get("meta") or {}).get("container")
    return ContainerMeta.from_dict(data) if isinstance(data, dict) else None


def _capture_meta(args: argparse.Namespace, event_types) -> dict[str, Any]:
    import platform
    import socket
    import time

    from pdigpy import __version__

    return {
        "pdigpy_version": __version__,
        "created_ns": time.time_ns(),
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "command": list(args.command) if getattr(args, "command", None) else None,
        "attach_pid": getattr(args, "pid", None),
        "event_types": sorted(event_types) if event_types is not None else None,
    }


def _finish(pipeline: Pipeline, args: argparse.Namespace, engine, reporter, app_code: int,
            properties: dict[str, str]) -> int:
    """Drain outputs (the hub reports undelivered alerts itself), write reports, pick the exit status."""
    pipeline.hub.close()  # waits up to pdigpy.flush_timeout
    if pipeline.capture is not None:
        try:
            pipeline.capture.close()
        except (OSError, ValueError) as exc:
            _log(f"--events {args.events}: cannot write ({exc}); the capture is incomplete")
    reporter.close()
    if pipeline.junit is not None:
        try:
            pipeline.junit.write(args.junit_xml, _enabled_rule_names(engine), properties)
        except OSError as exc:
            _log(f"--junit-xml {args.junit_xml}: cannot write ({exc.strerror or exc})")
    mode = args.summary or "auto"
    if mode == "always" or (mode == "auto" and pipeline.summary.total):
        pipeline.summary.print(sys.stderr)
    if app_code == 0 and pipeline.failing_alerts:
        if args.verbose:
            _log(f"--fail-on {args.fail_on}: {pipeline.failing_alerts} alerts at or above it; exit {EXIT_ALERTS}")
        return EXIT_ALERTS
    return app_code


def _tracer_counters(tracer) -> dict[str, Any]:
    """The Tracer's counters once it has finished; empty while it runs.

    The wait loop keeps its stop counts in locals (hot path) and publishes them
    in TracerStats at the end, so interval records carry the pipeline's own
    live counts and the final record adds the ptrace stops.
    """
    from dataclasses import asdict

    counters = asdict(tracer.stats)
    return counters if counters.get("stops") else {}


def _collect_from_here() -> None:
    """The pdigpy command starts with the cyclic collector off (cli.main): what start-up built
    lives until exit, so it is frozen out of the collector's scans, which resume for the trace."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _output_stats(hub) -> dict[str, int]:
    """Drops anywhere in the outputs, and the deepest sink queue (alerts not yet delivered)."""
    counters = hub.counters
    drops = counters.dropped
    depth = 0
    for c in counters.sinks.values():
        drops += c.dropped
        depth = max(depth, c.queued - c.sent - c.failed - c.dropped)
    return {"drops": drops, "queue_depth": depth}


def _build(args: argparse.Namespace, config: Config, files: list[str], header: dict[str, Any] | None = None,
           container=None):
    from pdigpy.report.summary import AlertSummary
    from pdigpy.stats import Stats

    state = _make_state(header)
    # A replay raises the live run's alerts, hostname included (FALCO_HOSTNAME still wins).
    hostname = None
    if header is not None and not os.environ.get("FALCO_HOSTNAME"):
        hostname = header.get("hostname") or None
    engine, _registry = _make_engine(config, state, container, hostname)
    _load_rules(engine, files, args.verbose)
    _apply_rule_selection(engine, config)
    hub = _make_hub(config)
    stats = Stats()
    junit = None
    if args.junit_xml:
        from pdigpy.report.junit import JUnitReport  # xml.etree and socket: only for CI runs

        junit = JUnitReport()
    pipeline = Pipeline(state, engine, hub, stats, AlertSummary(), junit)
    pipeline.fail_threshold = args.fail_on_priority
    return pipeline, engine


def _start_reporter(args: argparse.Namespace, stats):
    from pdigpy.stats import StatsReporter

    try:
        reporter = StatsReporter(stats, args.stats_interval, args.stats_file, bool(args.verbose))
    except OSError as exc:
        raise ConfigError(f"--stats-file {args.stats_file}: cannot write ({exc.strerror or exc}); give a writable path") from None
    reporter.start()
    return reporter


# ---------------------------------------------------------------------------
# Modes


def traced_event_types(engine, *, everything: bool = False) -> frozenset[str]:
    """The rules' event types, plus the state syscalls that keep right what the enabled rules'
    fields read (pdigpy.state.needs). ``everything`` (a capture with --events, replayable later
    with any rules) traces the state's full set."""
    from pdigpy.state.needs import state_event_types

    return frozenset(engine.event_types()) | state_event_types(engine.referenced_fields(), everything=everything)


def state_only_arg_filters(engine) -> dict[str, tuple[int, frozenset[int]]]:
    """The state's argument narrowing (fcntl: only the fd-creating commands), for the event
    types no rule wants: a rule on a type needs every call of it."""
    from pdigpy.state.needs import STATE_ARG_FILTERS

    wanted = engine.event_types()
    return {etype: narrowing for etype, narrowing in STATE_ARG_FILTERS.items() if etype not in wanted}


def _set_fd_stat(args: argparse.Namespace, config: Config, engine: Any) -> None:
    """Stat each opened fd for its dev/ino only when something can show them: a capture
    (``--events``, replayed with any rules later), the output settings (append_output), or an
    enabled rule that names those fields or renders a whole open's arguments (the stat costs a
    few µs per open)."""
    from pdigpy.state.needs import fd_stat_needed, rule_needs_fd_stat
    from pdigpy.tracer import decode

    if args.events or fd_stat_needed([repr(config.data)]):
        decode.set_fd_stat(True)
        return
    every_type = engine.matches_all_event_types()
    decode.set_fd_stat(any(
        rule_needs_fd_stat((r.full_condition, r.output_format),
                           None if every_type or r.event_types.complement else r.event_types.names)
        for r in engine.enabled_rules))


def run(args: argparse.Namespace) -> int:
    """Trace ``args.command`` (or attach to ``args.pid``); return the app's status (or 86 with --fail-on)."""
    config = _load_config(args)
    files = resolve_rules_files(args.rules, config)  # user errors first, before the heavy imports
    from pdigpy.tracer.session import TraceOptions, Tracer
    from pdigpy.tracer.signals import FORWARDED

    # The signals the tracer relays to the app must be blocked in every thread but
    # its relay, and threads inherit their creator's mask: block them while the
    # outputs' and stats' threads start, then give the main thread its mask back
    # (the tracer blocks them itself and hands the original mask to the app).
    original_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    container = _detect_container()
    pipeline, engine = _build(args, config, files, container=container)
    _set_fd_stat(args, config, engine)
    event_types = traced_event_types(engine, everything=bool(args.events))
    options = TraceOptions(event_types=event_types, seccomp=not args.no_seccomp,
                           follow_descendants=bool(args.follow), arg_filters=state_only_arg_filters(engine))
    tracer = Tracer(pipeline, options)
    pipeline.stats.tracer_stats = lambda: _tracer_counters(tracer)
    pipeline.stats.output_counters = lambda: _output_stats(pipeline.hub)
    try:
        pipeline.stats.syscalls_traced = len(tracer.filter_syscalls())
    except Exception:  # the count is informative only
        pipeline.stats.syscalls_traced = 0
    if args.events:
        meta = _capture_meta(args, event_types)
        if container is not None:
            meta["container"] = container.to_dict()
        pipeline.capture = _open_capture(args.events, meta, pipeline.state.users)
    reporter = _start_reporter(args, pipeline.stats)
    pipeline.hub.start()
    if args.verbose:
        _log(f"tracing {len(event_types)} event types, {pipeline.stats.syscalls_traced} syscalls"
             f"{' (no seccomp)' if args.no_seccomp else ''}")
    _collect_from_here()
    signal.pthread_sigmask(signal.SIG_SETMASK, original_mask)
    if args.pid is not None:
        code = tracer.attach(args.pid)
        target = f"pid {args.pid}"
    else:
        code = tracer.run_command(list(args.command))
        target = " ".join(args.command)
    # The app is gone: a late SIGTERM must not cut the flush of the last alerts short (it is bounded).
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    return _finish(pipeline, args, engine, reporter, code,
                   {"command": target, "exit_code": str(code), "rules_files": " ".join(files)})


def replay(args: argparse.Namespace) -> int:
    """Feed a capture through a fresh state and the rules; 0, or 86 with --fail-on.

    A capture that goes bad half-way is replayed up to the bad record, then
    reported in one line, and the status is 2.
    """
    from pdigpy.events.capture import CaptureError, read_capture

    config = _load_config(args)
    files = resolve_rules_files(args.rules, config)
    if not os.path.isfile(args.capture):
        raise ConfigError(f"replay {args.capture}: no such capture file; give a file written by pdigpy --events FILE")
    records = read_capture(args.capture)
    try:
        _kind, header = next(records)  # read_capture yields the header first or raises
    except CaptureError as exc:
        raise ConfigError(f"replay: {exc}") from None
    pipeline, engine = _build(args, config, files, header, _container_from_header(header))
    pipeline.stats.output_counters = lambda: _output_stats(pipeline.hub)
    reporter = _start_reporter(args, pipeline.stats)
    pipeline.hub.start()
    code = 0
    _collect_from_here()
    on_snapshot, on_event = pipeline.on_snapshot, pipeline.on_event
    try:
        for kind, value in records:
            if kind == "event":
                on_event(value)
            else:
                on_snapshot(value)
    except CaptureError as exc:
        _log(f"replay: {exc}; the records before it were replayed")
        code = 2
    return _finish(pipeline, args, engine, reporter, code,
                   {"capture": args.capture, "rules_files": " ".join(files)})


def validate(args: argparse.Namespace) -> int:
    """-V: load every file in turn into one engine; Falco's report on stdout; 0 if all are valid, else 1."""
    config = _load_config(args)
    engine, _registry = _make_engine(config, None)
    result = engine.load_files(list(args.validate), stop_on_error=False)
    if config.data.get("json_output") is True:
        describe = engine.describe() if args.list_rules and result.ok else None
        sys.stdout.write(result.report_json(describe) + "\n")
    else:
        sys.stdout.write(result.report_text())
        warnings = result.log_text()
        if warnings:
            sys.stderr.write(warnings)
        if args.list_rules and result.ok:
            _print_rules_table(engine, sys.stdout)
    return 0 if result.ok else 1


def list_rules(args: argparse.Namespace) -> int:
    """-L: the loaded rules with their descriptions (JSON with json_output)."""
    if args.validate:
        return validate(args)
    config = _load_config(args)
    files = resolve_rules_files(args.rules, config)
    engine, _registry = _make_engine(config, None)
    _load_rules(engine, files, args.verbose)
    _apply_rule_selection(engine, config)
    if config.data.get("json_output") is True:
        import json  # -L with json_output only

        sys.stdout.write(json.dumps(engine.describe()) + "\n")
    else:
        _print_rules_table(engine, sys.stdout)
    return 0


def _print_rules_table(engine, stream: TextIO) -> None:
    """Falco's two-column Rule / Description table, plain text (it is often piped)."""
    rules = engine.rules
    width = max([len("Rule")] + [len(r.name) for r in rules]) + 1
    stream.write(f"{'Rule':<{width}} Description\n{'----':<{width}} -----------\n")
    for r in rules:
        desc = " ".join(str(r.desc or "").split())
        flag = "" if engine.is_enabled(r.name) else " (disabled)"
        stream.write(f"{r.name:<{width}} {desc}{flag}\n")


def list_fields(args: argparse.Namespace) -> int:
    """--list[=SOURCE]: every field with its type and description."""
    from pdigpy.engine.fields.registry import FieldRegistry

    source = args.list_fields or ""
    if source not in ("", "syscall"):
        raise ConfigError(f"--list={source}: unknown event source; pdigpy has one source: --list=syscall")
    infos = FieldRegistry(None).infos()
    out = sys.stdout
    by_class: dict[str, list] = {}
    for info in infos:
        by_class.setdefault(info.field_class or info.name.split(".")[0], []).append(info)
    for field_class, rows in by_class.items():
        out.write(f"Field Class: {field_class} (source: syscall)\n\n")
        width = max(len(_field_display(i)) for i in rows) + 2
        for info in rows:
            name = _field_display(info)
            flags = ""
            if info.is_list:
                flags += ", LIST"
            if "filter_only" in info.flags:
                flags += ", FILTER ONLY"
            if "deprecated" in info.flags:
                flags += ", DEPRECATED"
            desc = " ".join(info.desc.split())
            out.write(f"{name:<{width}} {info.type.upper()}{flags}  {desc}\n")
        out.write("\n")
    return 0


def _field_display(info) -> str:
    """``name`` or ``name[INDEX]`` / ``name[KEY]`` (in brackets-with-? when the argument is optional)."""
    kind = (info.arg_kind or "arg").upper()
    if info.arg == "required":
        return f"{info.name}[{kind}]"
    if info.arg == "allowed":
        return f"{info.name}[{kind}]?"
    return info.name


def print_filter(args: argparse.Namespace) -> int:
    """--print-filter: each traced syscall with the rules (or "state") that need it."""
    from pdigpy.state.needs import STATE_GROUPS, needed_state_groups, state_event_types
    from pdigpy.tracer import ptrace as _pt
    from pdigpy.tracer.session import TraceOptions, Tracer
    from pdigpy.tracer.syscalls.table import native_table

    config = _load_config(args)
    engine, _registry = _make_engine(config, None)
    _load_rules(engine, resolve_rules_files(args.rules, config), args.verbose)
    _apply_rule_selection(engine, config)
    event_types = traced_event_types(engine)
    arg_filters = state_only_arg_filters(engine) if not args.no_seccomp else {}
    tracer = Tracer(_NullSink(), TraceOptions(event_types=event_types, seccomp=not args.no_seccomp,
                                              arg_filters=arg_filters))
    table = native_table()
    needs: dict[str, list[str]] = {}
    for rule in engine.enabled_rules:
        for etype in _rule_event_types(rule):
            needs.setdefault(etype, []).append(rule.name)
    fields = engine.referenced_fields()
    state_types = state_event_types(fields)
    groups = needed_state_groups(fields)
    out = sys.stdout
    syscalls = tracer.filter_syscalls()
    # The loop's guard: ptrace's attach requests always stop (TraceLoop.guard_ptrace), so that the
    # app cannot attach to pdigpy; shown as a row so the list is the whole filter.
    guard = not args.no_seccomp and "ptrace" not in syscalls and _pt.PTRACE_NR >= 0
    if guard:
        syscalls = sorted([*syscalls, "ptrace"])
    out.write(f"# {len(syscalls)} syscalls in the seccomp filter ({table.arch})\n")
    out.write(f"# state groups the rules' fields need: {', '.join(sorted(groups)) or 'none'}; "
              f"left out: {', '.join(sorted(set(STATE_GROUPS) - groups)) or 'none'}\n")
    out.write("# syscall\tevent\tneeded by\n")
    for name in syscalls:
        spec = table.by_name.get(name)
        etype = spec.event if spec is not None else name
        who = list(needs.get(etype, []))
        if guard and name == "ptrace":
            who.append(f"pdigpy's attach guard (only when arg 0 is {_pt.PTRACE_ATTACH} or {_pt.PTRACE_SEIZE})")
        if etype in state_types:
            narrowing = arg_filters.get(etype)
            if narrowing is not None:
                index, values = narrowing
                who.append(f"state (only when arg {index} is {' or '.join(str(v) for v in sorted(values))})")
            else:
                who.append("state")
        out.write(f"{name}\t{etype}\t{', '.join(who) if who else '-'}\n")
    return 0


def _rule_event_types(rule) -> frozenset[str]:
    from pdigpy.engine.index import all_event_types

    types = rule.event_types
    return types.materialize(all_event_types()) if types.complement else types.names


class _NullSink:
    def on_event(self, evt) -> None:  # pragma: no cover - never traced
        pass

    def on_snapshot(self, info) -> None:  # pragma: no cover
        pass
