"""falcosidekick-style forwarders: Slack, Kafka, AWS Lambda, generic webhook."""
