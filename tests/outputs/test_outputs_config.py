"""Start-up errors: one line naming the key and the fix, raised by from_config (never mid-run)."""

from __future__ import annotations

import sys

import pytest

from pdigpy.outputs import ConfigError, OutputHub


def error_for(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        OutputHub.from_config(config)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_missing_confluent_kafka_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # as if not installed
    text = error_for({"forwarders": {"kafka": {"hostport": "127.0.0.1:9092", "topic": "falco"}}})
    assert text == "forwarders.kafka: confluent-kafka is not installed; pip install 'pdigpy[kafka]'"


def test_missing_boto3_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    text = error_for({"forwarders": {"aws": {"region": "eu-west-1", "lambda": {"functionname": "f"}}}})
    assert text == "forwarders.aws.lambda: boto3 is not installed; pip install 'pdigpy[aws]'"


@pytest.mark.parametrize("config, expected", [
    ({"forwarders": {"kafka": {"hostport": "http://kafka:9092", "topic": "t"}}},
     "forwarders.kafka.hostport: 'http://kafka:9092' is not host:port"),
    ({"forwarders": {"kafka": {"topic": "t"}}}, "forwarders.kafka.hostport: is required"),
    ({"forwarders": {"kafka": {"hostport": "k:9092"}}}, "forwarders.kafka.topic: is required"),
    ({"forwarders": {"kafka": {"hostport": "k:9092", "topic": "t", "requiredacks": "SOME"}}},
     "forwarders.kafka.requiredacks: unknown value 'SOME'; use one of: NONE, ONE, ALL"),
    ({"forwarders": {"kafka": {"hostport": "k:9092", "topic": "t", "async": True}}},
     "forwarders.kafka.async: is not supported"),
    ({"forwarders": {"kafka": {"hostport": "k:9092", "topic": "t", "options": {"no.such.setting": 1}}}},
     "forwarders.kafka: librdkafka refused the settings: No such configuration property"),
    ({"forwarders": {"loki": {"hostport": "x"}}}, "forwarders.loki: unknown forwarder; pdigpy forwards to: slack"),
    ({"forwarders": {"lambda": {"functionname": "f"}}},
     "forwarders.lambda: unknown forwarder; write it as forwarders.aws.lambda"),
    ({"forwarders": {"aws": {"sqs": {"url": "x"}, "lambda": {"functionname": "f"}}}},
     "forwarders.aws.sqs: unknown key"),
    ({"forwarders": {"slack": {"webhook_url": "http://x/"}}},
     "forwarders.slack.webhook_url: unknown key; did you mean 'webhookurl'?"),
    ({"forwarders": {"slack": {"channel": "#a"}}}, "forwarders.slack.webhookurl: is required"),
    ({"forwarders": {"slack": {"webhookurl": "hooks.slack.com/x"}}},
     "forwarders.slack.webhookurl: expected an http:// or https:// URL"),
    ({"forwarders": {"slack": {"webhookurl": "http://x/", "outputformat": "field"}}},
     "forwarders.slack.outputformat: unknown value 'field'; use one of: all, text, fields"),
    ({"forwarders": {"slack": {"webhookurl": "http://x/", "messageformat": "{{ if .Rule }}x{{ end }}"}}},
     "forwarders.slack.messageformat: 'if' is not supported"),
    ({"forwarders": {"slack": {"webhookurl": "http://x/", "messageformat": "{{ .Rules }}"}}},
     "forwarders.slack.messageformat: unknown field .Rules"),
    ({"forwarders": {"slack": {"webhookurl": "http://x/", "minimumpriority": "urgent"}}},
     "forwarders.slack.minimumpriority: unknown priority 'urgent'"),
    ({"forwarders": {"webhook": {"address": "http://x/", "method": "GET"}}},
     "forwarders.webhook.method: unknown value 'GET'; use one of: POST, PUT"),
    ({"forwarders": {"webhook": {"address": "https://x/", "mutualtls": True,
                                 "mutualtlsclient": {}}, "mutualtlsfilespath": "/nonexistent"}},
     "forwarders.webhook.mutualtlsclient: unknown key"),
    ({"forwarders": {"webhook": {"address": "https://x/", "mutualtls": True}, "mutualtlsfilespath": "/nonexistent"}},
     "forwarders.webhook.mutualtls: cannot load the client certificate '/nonexistent/client.crt'"),
    ({"http_output": {"enabled": True, "url": ""}}, "http_output.url: is empty"),
    ({"http_output": {"enabled": True, "url": "ftp://x/"}}, "http_output.url: expected an http:// or https:// URL"),
    ({"http_output": {"enabled": True, "url": "https://x/", "mtls": True, "client_cert": "/nonexistent.crt"}},
     "http_output.client_cert: cannot load the client certificate '/nonexistent.crt'"),
    ({"http_output": {"enabled": True, "url": "https://x/", "ca_cert": "/nonexistent.pem"}},
     "http_output.ca_cert: cannot load CA certificates"),
    ({"http_output": {"enabled": "maybe"}}, "http_output.enabled: expected true or false, got 'maybe'"),
    ({"outputs_queue": {"capacity": "lots"}}, "outputs_queue.capacity: expected an integer, got 'lots'"),
    ({"output_timeout": 0}, "output_timeout: must be at least 1"),
    ({"pdigpy": {"retry": {"window": -1}}}, "pdigpy.retry.window: must be at least 0"),
    ({"pdigpy": {"retry": {"windw": 1}}}, "pdigpy.retry.windw: unknown key; did you mean 'window'?"),
    ({"pdigpy": {"flush_timeout": "soon"}}, "pdigpy.flush_timeout: expected a number, got 'soon'"),
    ({"syslog_output": {"enabled": True, "address": "/nonexistent/log", "facility": "local9"}},
     "syslog_output.facility: unknown value 'local9'"),
    ({"forwarders": ["slack"]}, "forwarders: expected a mapping of keys"),
])
def test_bad_settings_name_the_key(config, expected):
    assert error_for(config).startswith(expected)


def test_string_values_from_dash_o_are_accepted(tmp_path):
    hub = OutputHub.from_config({
        "json_output": "true", "output_timeout": "500", "outputs_queue": {"capacity": "7"},
        "stderr_output": {"enabled": "false"},
        "file_output": {"enabled": "true", "filename": str(tmp_path / "e.txt"), "keep_alive": "false"},
        "pdigpy": {"flush_timeout": "2.5", "retry": {"window": "3"}},
        "forwarders": {"webhook": {"address": "http://127.0.0.1:9/", "customheaders": "X-A:1,X-B:two"}},
    })
    assert hub.sink_names == ["file_output", "forwarders.webhook"]
    s = hub.settings
    assert (s.json_output, s.output_timeout, s.queue_capacity, s.flush_timeout, s.retry.window) == (True, 0.5, 7, 2.5, 3)
    hub.close(0.1, report=False)


def test_default_sinks_and_settings():
    hub = OutputHub.from_config({})
    assert hub.sink_names == ["stderr_output"]
    s = hub.settings
    assert (s.queue_capacity, s.output_timeout, s.flush_timeout) == (1000, 2.0, 5.0)
    assert (s.retry.window, s.retry.initial_backoff, s.retry.max_backoff) == (30.0, 0.5, 8.0)
    hub.close(0.1, report=False)


def test_config_error_is_the_products_config_error():
    config_module = pytest.importorskip("pdigpy.config")
    with pytest.raises(config_module.ConfigError):
        OutputHub.from_config({"http_output": {"enabled": True}})


def test_the_products_config_loader_feeds_the_hub(tmp_path):
    config_module = pytest.importorskip("pdigpy.config")
    if not hasattr(config_module, "load_config"):
        pytest.skip("pdigpy.config.load_config is not there yet")
    cfg = config_module.load_config(None, [
        "json_output=true", "pdigpy.flush_timeout=2", "output_timeout=500",
        "http_output.enabled=true", "http_output.url=http://127.0.0.1:9/",
        "file_output.enabled=true", f"file_output.filename={tmp_path / 'e.txt'}",
        "forwarders.webhook.address=http://127.0.0.1:9/", "forwarders.webhook.minimumpriority=error",
    ], environ={})
    hub = OutputHub.from_config(cfg.data)
    assert hub.sink_names == ["stderr_output", "file_output", "http_output", "forwarders.webhook"]
    assert (hub.settings.json_output, hub.settings.flush_timeout, hub.settings.output_timeout) == (True, 2, 0.5)
    hub.close(0, report=False)


def test_kafka_settings_map_to_librdkafka():
    from pdigpy.outputs.config import Section
    from pdigpy.outputs.forwarders.kafka import producer_config
    from pdigpy.outputs.settings import read_settings

    settings = read_settings({"output_timeout": 1500})
    conf = producer_config(Section({"hostport": "k1:9092, k2:9093", "topic": "t", "requiredacks": "one",
                                    "compression": "zstd", "balancer": "murmur2", "clientid": "me",
                                    "sasl": "SCRAM_SHA512", "username": "u", "password": "p", "tls": True,
                                    "options": {"ssl.ca.location": "/ca.pem", "acks": "all"}},
                                   "forwarders.kafka"), settings)
    assert conf == {
        "bootstrap.servers": "k1:9092, k2:9093", "acks": "all", "compression.type": "zstd",
        "partitioner": "murmur2", "message.timeout.ms": 1500, "socket.connection.setup.timeout.ms": 1500,
        "reconnect.backoff.max.ms": 1000, "client.id": "me", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "u", "sasl.password": "p", "security.protocol": "SASL_SSL", "ssl.ca.location": "/ca.pem",
    }
    plain_tls = producer_config(Section({"hostport": "k:1", "topic": "t", "tls": True, "sasl": ""}, "k"), settings)
    assert plain_tls["security.protocol"] == "SSL" and plain_tls["acks"] == "all"
    sasl_plain = producer_config(Section({"hostport": "k:1", "topic": "t", "sasl": "PLAIN", "username": "u"}, "k"),
                                 settings)
    assert (sasl_plain["security.protocol"], sasl_plain["sasl.mechanism"]) == ("SASL_PLAINTEXT", "PLAIN")
    assert producer_config(Section({"hostport": "k:1", "topic": "t"}, "k"), settings)["partitioner"] == "random"
