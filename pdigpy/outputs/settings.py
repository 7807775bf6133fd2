"""The keys shared by every sink: Falco's alert format keys and pdigpy's delivery keys.

Falco's (top level of falco.yaml): ``json_output``, ``json_include_output_property``,
``json_include_tags_property``, ``json_include_message_property``,
``json_include_output_fields_property``, ``time_format_iso_8601``,
``buffered_outputs``, ``outputs_queue.capacity``, ``output_timeout``.

pdigpy's own, under ``pdigpy:``: ``flush_timeout``, ``retry.window``,
``retry.initial_backoff``, ``retry.max_backoff``. See docs/outputs.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdigpy.outputs.config import Section
from pdigpy.outputs.retry import RetryPolicy

# Falco's outputs_queue.capacity 0 means unbounded; pdigpy never queues without a bound.
DEFAULT_QUEUE_CAPACITY = 1000
DEFAULT_FLUSH_TIMEOUT = 5.0
DEFAULT_OUTPUT_TIMEOUT_MS = 2000

PDIGPY_KEYS = ("flush_timeout", "retry")
RETRY_KEYS = ("window", "initial_backoff", "max_backoff")


@dataclass(frozen=True)
class OutputSettings:
    json_output: bool = False
    include_output: bool = True
    include_tags: bool = True
    include_message: bool = False
    include_output_fields: bool = True
    time_format_iso_8601: bool = False
    buffered: bool = False
    queue_capacity: int = DEFAULT_QUEUE_CAPACITY
    output_timeout: float = DEFAULT_OUTPUT_TIMEOUT_MS / 1000  # seconds, one attempt of one sink
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT
    retry: RetryPolicy = RetryPolicy()


def read_settings(config: dict) -> OutputSettings:
    top = Section(config, "")
    capacity = int(top.section("outputs_queue").number("capacity", 0, integer=True))
    own = top.section("pdigpy")
    retry = own.section("retry")
    retry.check_keys(RETRY_KEYS)
    policy = RetryPolicy(
        window=retry.number("window", RetryPolicy.window),
        initial_backoff=retry.number("initial_backoff", RetryPolicy.initial_backoff),
        max_backoff=retry.number("max_backoff", RetryPolicy.max_backoff),
    )
    timeout_ms = top.number("output_timeout", DEFAULT_OUTPUT_TIMEOUT_MS, minimum=1)
    return OutputSettings(
        json_output=top.bool("json_output", False),
        include_output=top.bool("json_include_output_property", True),
        include_tags=top.bool("json_include_tags_property", True),
        include_message=top.bool("json_include_message_property", False),
        include_output_fields=top.bool("json_include_output_fields_property", True),
        time_format_iso_8601=top.bool("time_format_iso_8601", False),
        buffered=top.bool("buffered_outputs", False),
        queue_capacity=capacity if capacity > 0 else DEFAULT_QUEUE_CAPACITY,
        output_timeout=timeout_ms / 1000,
        flush_timeout=own.number("flush_timeout", DEFAULT_FLUSH_TIMEOUT),
        retry=policy,
    )
