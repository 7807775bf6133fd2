"""The keys shared by every sink: Falco's alert format keys and pdigpy's delivery keys.

Falco's (top level of falco.yaml): ``json_output``, ``json_include_output_property``,
``json_include_tags_property``, ``json_include_message_property``,
``json_include_output_fields_property``, ``time_format_iso_8601``,
``buffered_outputs``, ``outputs_queue.capacity``, ``output_timeout``.

pdigpy's own, under ``pdigpy:``: ``flush_timeout``, ``retry.window``,
``retry.initial_backoff``, ``retry.max_backoff``. See docs/outputs.md.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

from pdigpy.outputs.config import Section
from pdigpy.outputs.retry import RetryPolicy

# Falco's outputs_queue.capacity 0 means unbounded; pdigpy never queues without a bound.
DEFAULT_QUEUE_CAPACITY = 1000
DEFAULT_FLUSH_TIMEOUT = 5.0
DEFAULT_OUTPUT_TIMEOUT_MS = 2000

PDIGPY_KEYS = ("flush_timeout", "retry")
RETRY_KEYS = ("window", "initial_backoff", "max_backoff")


def _reduce_by_init(self):  # pickle/copy a frozen written-out class through its __init__
    return self.__class__, tuple([getattr(self, name) for name in self.__dataclass_fields__])


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class OutputSettings:
    """OutputSettings(json_output, include_output, include_tags, include_message, include_output_fields, time_format_iso_8601, buffered, queue_capacity, output_timeout, flush_timeout, retry)."""

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

    def __init__(
        self,
        json_output: bool = False,
        include_output: bool = True,
        include_tags: bool = True,
        include_message: bool = False,
        include_output_fields: bool = True,
        time_format_iso_8601: bool = False,
        buffered: bool = False,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        output_timeout: float = DEFAULT_OUTPUT_TIMEOUT_MS / 1000,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        object.__setattr__(self, "json_output", json_output)
        object.__setattr__(self, "include_output", include_output)
        object.__setattr__(self, "include_tags", include_tags)
        object.__setattr__(self, "include_message", include_message)
        object.__setattr__(self, "include_output_fields", include_output_fields)
        object.__setattr__(self, "time_format_iso_8601", time_format_iso_8601)
        object.__setattr__(self, "buffered", buffered)
        object.__setattr__(self, "queue_capacity", queue_capacity)
        object.__setattr__(self, "output_timeout", output_timeout)
        object.__setattr__(self, "flush_timeout", flush_timeout)
        object.__setattr__(self, "retry", retry)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(json_output={self.json_output!r}, include_output={self.include_output!r}, include_tags={self.include_tags!r}, include_message={self.include_message!r}, include_output_fields={self.include_output_fields!r}, time_format_iso_8601={self.time_format_iso_8601!r}, buffered={self.buffered!r}, queue_capacity={self.queue_capacity!r}, output_timeout={self.output_timeout!r}, flush_timeout={self.flush_timeout!r}, retry={self.retry!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.json_output, self.include_output, self.include_tags, self.include_message, self.include_output_fields, self.time_format_iso_8601, self.buffered, self.queue_capacity, self.output_timeout, self.flush_timeout, self.retry) == (other.json_output, other.include_output, other.include_tags, other.include_message, other.include_output_fields, other.time_format_iso_8601, other.buffered, other.queue_capacity, other.output_timeout, other.flush_timeout, other.retry)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.json_output, self.include_output, self.include_tags, self.include_message, self.include_output_fields, self.time_format_iso_8601, self.buffered, self.queue_capacity, self.output_timeout, self.flush_timeout, self.retry))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce_by_init


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
