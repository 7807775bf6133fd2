"""Faults: a receiver that is down, answers 500, or answers after 10 s; a full queue.

What is measured is the time spent inside submit() (the tracer's cost), never the
wall time of the test. Timeouts and backoffs are small so the tests stay short.
"""

from __future__ import annotations

import json
import threading
import time

from outputs_helpers import Receiver, free_port, make_alert

from pdigpy.outputs import OutputHub

# Seconds. submit() does no I/O and takes one lock (median 1.6 us); what remains is Python's GIL
# hand-over while output threads are busy, a few 5 ms switch intervals at worst (docs/outputs.md).
SUBMIT_BOUND = 0.1


def config_for(url: str, *, timeout_ms: int = 300, window: float = 5.0, capacity: int = 0, **extra) -> dict:
    return {
        "json_output": True,
        "stderr_output": {"enabled": False},
        "http_output": {"enabled": True, "url": url},
        "output_timeout": timeout_ms,
        "outputs_queue": {"capacity": capacity},
        "pdigpy": {"retry": {"window": window, "initial_backoff": 0.05, "max_backoff": 0.25}},
        **extra,
    }


def timed_submits(hub: OutputHub, alerts) -> list[float]:
    spent = []
    for alert in alerts:
        t0 = time.perf_counter()
        hub.submit(alert)
        spent.append(time.perf_counter() - t0)
    return spent


def rules(requests) -> list[str]:
    return [json.loads(r.body)["rule"] for r in requests]


def test_receiver_down_then_back_within_window_gets_every_alert(capsys):
    port = free_port()  # nothing listens there yet
    hub = OutputHub.from_config(config_for(f"http://127.0.0.1:{port}/", window=8.0))
    hub.start()
    spent = timed_submits(hub, [make_alert(rule=f"r{i}") for i in range(20)])
    assert max(spent) < SUBMIT_BOUND
    time.sleep(0.6)  # the sender is now retrying with backoff
    receiver = Receiver(port=port).start()
    try:
        report = hub.close(8)
        c = report.counters.sinks["http_output"]
        assert (c.queued, c.sent, c.failed, c.dropped) == (20, 20, 0, 0)
        assert c.retried >= 1
        assert rules(receiver.accepted) == [f"r{i}" for i in range(20)]  # in order, once each
        assert report.all_delivered
    finally:
        receiver.stop()
    err = capsys.readouterr().err
    assert "http_output: delivery failed" in err and "delivering again" in err


def test_500_answers_are_retried_until_accepted():
    answers = iter([500, 500, 503])
    receiver = Receiver(status=lambda req: next(answers, 200)).start()
    try:
        hub = OutputHub.from_config(config_for(receiver.url))
        hub.start()
        spent = timed_submits(hub, [make_alert(rule="a"), make_alert(rule="b")])
        report = hub.close(8, report=False)
        assert max(spent) < SUBMIT_BOUND
        c = report.counters.sinks["http_output"]
        assert (c.queued, c.sent, c.retried, c.failed, c.dropped) == (2, 2, 3, 0, 0)
        assert rules(receiver.requests) == ["a", "a", "a", "a", "b"]
    finally:
        receiver.stop()


def test_receiver_answering_after_10s_never_holds_up_submit_or_exit(capsys):
    receiver = Receiver(delay=10.0).start()
    try:
        hub = OutputHub.from_config(config_for(receiver.url, timeout_ms=200, window=30.0))
        hub.start()
        spent = timed_submits(hub, [make_alert(rule=f"slow{i}") for i in range(5)])
        assert max(spent) < SUBMIT_BOUND
        t0 = time.monotonic()
        report = hub.close(1.0)
        assert time.monotonic() - t0 < 2.0  # the flush timeout, not the receiver's 10 s
        c = report.counters.sinks["http_output"]
        assert c.sent == 0 and c.queued == 5
        assert c.failed + c.dropped + report.in_flight.get("http_output", 0) == 5
        assert report.timed_out and not report.all_delivered
        assert report.undelivered("http_output") == 5
    finally:
        receiver.stop()
    err = capsys.readouterr().err
    assert "http_output: 5 of 5 alert(s) not delivered" in err
    assert "no answer within 0.2s" in err
    assert "flush at exit stopped" in err


def test_retry_window_over_means_failed_and_counted():
    port = free_port()  # stays down
    hub = OutputHub.from_config(config_for(f"http://127.0.0.1:{port}/", window=0.5))
    hub.start()
    timed_submits(hub, [make_alert(rule="x"), make_alert(rule="y")])
    time.sleep(1.0)
    report = hub.close(2, report=False)
    c = report.counters.sinks["http_output"]
    assert (c.queued, c.sent, c.failed, c.dropped) == (2, 0, 2, 0)
    assert c.retried >= 1
    assert "Connection refused" in report.errors["http_output"]
    assert report.undelivered("http_output") == 2


def test_a_dead_sink_does_not_delay_the_others(tmp_path):
    port = free_port()
    events = tmp_path / "events.txt"
    config = config_for(f"http://127.0.0.1:{port}/", window=30.0)
    config["file_output"] = {"enabled": True, "filename": str(events)}
    hub = OutputHub.from_config(config)
    hub.start()
    timed_submits(hub, [make_alert(rule=f"f{i}") for i in range(10)])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and hub.counters.sinks["file_output"].sent < 10:
        time.sleep(0.02)
    assert hub.counters.sinks["file_output"].sent == 10
    assert hub.counters.sinks["http_output"].sent == 0
    report = hub.close(0.5, report=False)
    assert [json.loads(line)["rule"] for line in events.read_text().splitlines()] == [f"f{i}" for i in range(10)]
    assert report.counters.sinks["file_output"].sent == 10


def test_full_queue_drops_the_newest_and_counts_it():
    gate = threading.Event()
    receiver = Receiver(status=lambda req: (gate.wait(5), 200)[1]).start()
    try:
        hub = OutputHub.from_config(config_for(receiver.url, timeout_ms=5000, capacity=5))
        hub.start()
        first = make_alert(rule="n0")
        hub.submit(first)
        receiver.wait_for(1)  # n0 is in flight, blocked in the receiver
        spent = timed_submits(hub, [make_alert(rule=f"n{i}") for i in range(1, 50)])
        assert max(spent) < SUBMIT_BOUND
        time.sleep(0.3)  # let the dispatcher hand everything on
        gate.set()
        report = hub.close(8, report=False)
        c = report.counters.sinks["http_output"]
        total_dropped = report.counters.dropped + c.dropped
        assert report.counters.submitted == 50
        assert c.sent + total_dropped == 50 and c.failed == 0
        assert total_dropped >= 50 - 1 - 5 - 5  # at most: one in flight, sink queue and hub queue full
        # Drop-newest: what got through is the oldest alerts, in order.
        assert rules(receiver.accepted) == [f"n{i}" for i in range(c.sent)]
    finally:
        gate.set()
        receiver.stop()


def test_submit_after_close_is_dropped_and_counted():
    hub = OutputHub.from_config({"stderr_output": {"enabled": False}})
    hub.start()
    hub.close(1)
    assert hub.submit(make_alert()) is False
    assert hub.counters.dropped == 1 and hub.counters.submitted == 1


def test_alerts_raised_just_before_exit_are_delivered_by_the_flush(tmp_path):
    receiver = Receiver(delay=0.1).start()  # a receiver a little slow to answer
    try:
        events = tmp_path / "events.txt"
        config = config_for(receiver.url)
        config["file_output"] = {"enabled": True, "filename": str(events)}
        hub = OutputHub.from_config(config)
        hub.start()
        timed_submits(hub, [make_alert(rule=f"last{i}") for i in range(8)])
        report = hub.close(5)  # at once: the app has just ended
        assert report.all_delivered and not report.timed_out
        assert rules(receiver.accepted) == [f"last{i}" for i in range(8)]
        assert len(events.read_text().splitlines()) == 8
    finally:
        receiver.stop()


def test_hub_queue_full_drops_newest_with_one_notice(capsys):
    gate = threading.Event()
    receiver = Receiver(status=lambda req: (gate.wait(5), 200)[1]).start()
    try:
        config = config_for(receiver.url, timeout_ms=5000, capacity=2)
        hub = OutputHub.from_config(config)
        hub.start()
        hub.submit(make_alert(rule="q0"))
        receiver.wait_for(1)
        spent = timed_submits(hub, [make_alert(rule=f"q{i}") for i in range(1, 200)])
        assert max(spent) < SUBMIT_BOUND
        gate.set()
        report = hub.close(8)
        assert report.counters.submitted == 200
        c = report.counters.sinks["http_output"]
        assert report.counters.dropped + c.dropped == 200 - c.sent
        assert rules(receiver.accepted) == [f"q{i}" for i in range(c.sent)]
    finally:
        gate.set()
        receiver.stop()
    err = capsys.readouterr().err
    assert err.count("dropping new alerts") <= 2  # at most one notice for the hub queue and one for the sink's
    assert "dropped" in err.split("dropping new alerts")[-1]  # and the report at exit says how many
