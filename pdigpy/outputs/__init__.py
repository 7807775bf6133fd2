"""Alert delivery: Falco's output channels and falcosidekick-style forwarders behind one bounded queue.

Public API::

    hub = OutputHub.from_config(config)   # falco.yaml-shaped dict; ConfigError names a bad key
    hub.start()
    hub.submit(alert)                     # never waits for a sink
    report = hub.close(timeout)           # flush at exit -> DeliveryReport
    hub.counters                          # HubCounters snapshot

See docs/outputs.md for every key, the delivery semantics and the counters.
"""

from pdigpy.outputs.config import ConfigError
from pdigpy.outputs.hub import DeliveryReport, HubCounters, OutputHub
from pdigpy.outputs.sink import SinkCounters

__all__ = ["ConfigError", "DeliveryReport", "HubCounters", "OutputHub", "SinkCounters"]
