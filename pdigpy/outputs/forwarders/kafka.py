"""Kafka, as falcosidekick's ``kafka`` output, through confluent-kafka (librdkafka).

Install with ``pip install 'pdigpy[kafka]'``. Keys (``forwarders.kafka``),
falcosidekick's names and their librdkafka settings:

=================  ===============================================  =====================
key                values                                           librdkafka setting
=================  ===============================================  =====================
hostport           ``host:port[,host:port...]`` (required)          bootstrap.servers
topic              topic name (required)                            -
requiredacks       ``NONE`` | ``ONE`` | ``ALL`` (default ``ALL``)   acks 0 / 1 / all
compression        ``NONE`` | ``GZIP`` | ``SNAPPY`` | ``LZ4`` | ``ZSTD``  compression.type
balancer           ``round_robin`` | ``least_bytes`` | ``crc32`` |   partitioner
                   ``crc32_random`` | ``murmur2`` | ``murmur2_random``
clientid           client id                                        client.id
sasl               ``PLAIN`` | ``SCRAM_SHA256`` | ``SCRAM_SHA512``  sasl.mechanism(s)
username/password  SASL credentials                                 sasl.username/password
tls                true: TLS with the system CAs                    security.protocol
topiccreation      accepted; whether a topic is created is the broker's setting
minimumpriority    lowest priority forwarded
=================  ===============================================  =====================

pdigpy additions: ``key`` (the message key, plain text or a Go template such as
``{{ .Rule }}``; default none, as sidekick) and ``options`` (a map of raw
librdkafka settings applied last, e.g. ``ssl.ca.location``).

Differences from sidekick: ``requiredacks`` defaults to ``ALL`` (sidekick:
``NONE``), because pdigpy counts an alert as sent only when the broker has
acknowledged it; ``async`` is refused for the same reason.

The value is falcosidekick's FalcoPayload JSON (json.Marshal, no newline). One
attempt waits for the delivery report for at most ``output_timeout``
(librdkafka's ``message.timeout.ms`` is set to the same, so a timed-out
message is never delivered later behind pdigpy's back).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.gotemplate import GoTemplate, TemplateError
from pdigpy.outputs.payloads import marshal_payload, template_data
from pdigpy.outputs.retry import DeliveryError
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings

KEYS = ("hostport", "topic", "requiredacks", "compression", "balancer", "clientid", "sasl", "username",
        "password", "tls", "topiccreation", "minimumpriority", "key", "options", "async")
ACKS = {"NONE": "0", "ONE": "1", "ALL": "all"}
COMPRESSION = {"NONE": "none", "GZIP": "gzip", "SNAPPY": "snappy", "LZ4": "lz4", "ZSTD": "zstd"}
# segmentio/kafka-go balancers -> librdkafka partitioners (for keyless messages the hash ones pick one partition).
BALANCERS = {"round_robin": "random", "least_bytes": "random", "crc32": "consistent",
             "crc32_random": "consistent_random", "murmur2": "murmur2", "murmur2_random": "murmur2_random"}
SASL = {"PLAIN": "PLAIN", "SCRAM_SHA256": "SCRAM-SHA-256", "SCRAM_SHA512": "SCRAM-SHA-512"}
INSTALL_HINT = "confluent-kafka is not installed; pip install 'pdigpy[kafka]'"


def _quiet_logger() -> logging.Logger:
    # librdkafka logs every connection failure; pdigpy reports delivery failures itself.
    logger = logging.getLogger("pdigpy.outputs.kafka")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def producer_config(section: Section, settings: OutputSettings) -> dict[str, Any]:
    hostport = section.required_str("hostport", "give the bootstrap brokers as host:port[,host:port]")
    for broker in hostport.split(","):
        broker = broker.strip()
        if "://" in broker or not broker.rpartition(":")[2].isdigit():
            raise ConfigError(section.key("hostport"), f"{broker!r} is not host:port; write e.g. kafka:9092 "
                              "(no http:// or other scheme)")
    conf: dict[str, Any] = {
        "bootstrap.servers": hostport,
        "acks": ACKS[section.choice("requiredacks", tuple(ACKS), "ALL")],
        "compression.type": COMPRESSION[section.choice("compression", tuple(COMPRESSION), "NONE")],
        "partitioner": BALANCERS[section.choice("balancer", tuple(BALANCERS), "round_robin")],
        "message.timeout.ms": max(1, int(settings.output_timeout * 1000)),
        "socket.connection.setup.timeout.ms": max(1000, int(settings.output_timeout * 1000)),
        # librdkafka backs off reconnects up to 10 s; alerts want a broker that came back used soon.
        "reconnect.backoff.max.ms": 1000,
    }
    if section.str("clientid"):
        conf["client.id"] = section.str("clientid")
    tls = section.bool("tls", False)
    sasl = section.str("sasl").strip()
    if sasl:
        conf["sasl.mechanism"] = SASL[section.choice("sasl", tuple(SASL), "PLAIN")]
        conf["sasl.username"] = section.required_str("username", "SASL needs a username")
        conf["sasl.password"] = section.str("password")
        conf["security.protocol"] = "SASL_SSL" if tls else "SASL_PLAINTEXT"
    elif tls:
        conf["security.protocol"] = "SSL"
    section.bool("topiccreation", False)
    options = section.data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(section.key("options"), "expected a map of librdkafka settings, e.g. {ssl.ca.location: /etc/ca.pem}")
    conf.update({str(k): v for k, v in options.items()})
    return conf


class KafkaForwarder(Sink):
    name = "forwarders.kafka"
    retry = True
    needs_payload = True

    PERMANENT = frozenset({"MSG_SIZE_TOO_LARGE", "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED",
                           "INVALID_RECORD", "_INVALID_ARG", "_MSG_SIZE_TOO_LARGE", "_AUTHENTICATION"})

    def __init__(self, producer: Any, topic: str, key: GoTemplate | None, timeout: float, min_priority) -> None:
        super().__init__(min_priority)
        self.producer = producer
        self.topic = topic
        self.key = key
        self.timeout = timeout

    def send(self, item: Rendered) -> None:
        assert item.payload is not None
        value = marshal_payload(item.payload)
        key = self.key.render(template_data(item.payload)).encode("utf-8") if self.key else None
        outcome: list[Any] = []
        try:
            self.producer.produce(self.topic, value=value, key=key, on_delivery=lambda err, msg: outcome.append(err))
        except BufferError:
            raise DeliveryError("kafka: librdkafka's local queue is full") from None
        except Exception as exc:  # KafkaException: bad topic name and the like
            raise DeliveryError(f"kafka: {exc}", retryable=False) from None
        self.producer.flush(self.timeout + 1.0)
        if not outcome:
            raise DeliveryError(f"kafka: no delivery report within {self.timeout:g}s")
        err = outcome[0]
        if err is None:
            return
        retryable = not err.fatal() and err.name() not in self.PERMANENT
        raise DeliveryError(f"kafka {self.topic}: {err.name()}: {err.str()}", retryable=retryable)

    def close(self, deadline: float) -> None:
        import time

        if self.producer.flush(max(0.0, deadline - time.monotonic())) > 0:
            # Out of time: drop what librdkafka still holds, so that destroying the producer at
            # interpreter exit does not wait for message.timeout.ms.
            self.producer.purge()
            self.producer.flush(0)


def kafka_forwarder(section: Section, forwarders: Section, settings: OutputSettings) -> KafkaForwarder:
    section.check_keys(KEYS)
    if section.bool("async", False):
        raise ConfigError(section.key("async"), "is not supported: pdigpy counts an alert as sent only once the "
                          "broker acknowledged it; remove it (requiredacks: NONE gives fire-and-forget on the broker side)")
    topic = section.required_str("topic", "give the topic to publish alerts to")
    key = None
    if section.str("key"):
        try:
            key = GoTemplate(section.str("key"))
        except TemplateError as exc:
            raise ConfigError(section.key("key"), str(exc)) from None
    conf = producer_config(section, settings)
    try:
        import confluent_kafka
    except ImportError:
        raise ConfigError(section.path, INSTALL_HINT) from None
    try:
        producer = confluent_kafka.Producer(conf, logger=_quiet_logger())
    except (confluent_kafka.KafkaException, ValueError, TypeError) as exc:
        detail = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
        raise ConfigError(section.path, f"librdkafka refused the settings: {detail}") from None
    return KafkaForwarder(producer, topic, key, settings.output_timeout, section.priority("minimumpriority"))
