"""The shared event model: what the tracer emits and everything downstream reads."""

from pdigpy.events.model import Event, SockAddr, SockTuple
from pdigpy.events.procinfo import ProcInfo

__all__ = ["Event", "ProcInfo", "SockAddr", "SockTuple"]
