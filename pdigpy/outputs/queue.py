"""A bounded FIFO whose producer side never waits.

``put()`` takes a lock held only for an append (microseconds), never for I/O, and
returns False instead of waiting when the queue is full: the caller drops the new
item and counts it (Falco's behaviour when its outputs queue is full). The
consumer side waits with a timeout and can tell when everything put has been
handled (``wait_done``), which is what the flush at exit needs.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Generic, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: collections.deque[T] = collections.deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._all_done = threading.Condition(self._lock)
        self._unfinished = 0  # put and not yet marked done by the consumer
        self._closed = False

    def put(self, item: T) -> bool:
        """Append without waiting; False if the queue is full or closed (the item is not taken)."""
        with self._lock:
            if self._closed or len(self._items) >= self.capacity:
                return False
            self._items.append(item)
            self._unfinished += 1
            self._not_empty.notify()
            return True

    def get(self, timeout: float) -> T | None:
        """The oldest item, or None after ``timeout`` seconds, or at once when closed and empty."""
        with self._lock:
            if not self._items:
                if self._closed:
                    return None
                self._not_empty.wait(timeout)
                if not self._items:
                    return None
            return self._items.popleft()

    def task_done(self) -> None:
        with self._lock:
            self._unfinished -= 1
            if self._unfinished <= 0:
                self._all_done.notify_all()

    def close(self) -> None:
        """No more puts; wakes a waiting consumer so it can see the end."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def wait_done(self, deadline: float) -> bool:
        """Wait until every item put has been handled, or until ``deadline`` (time.monotonic())."""
        with self._lock:
            while self._unfinished > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._all_done.wait(remaining)
            return True

    def drain(self) -> list[T]:
        """Take every item still waiting (used at exit to count what was not delivered)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._unfinished -= len(items)
            if self._unfinished <= 0:
                self._all_done.notify_all()
            return items

    def __len__(self) -> int:
        return len(self._items)
