"""Every YAML block in docs/outputs.md builds an OutputHub, so the documented configs stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pdigpy.outputs import OutputHub

DOC = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_a_block_for_every_sink():
    text = "\n".join(BLOCKS)
    for key in ("stderr_output:", "stdout_output:", "file_output:", "syslog_output:", "program_output:",
                "http_output:", "slack:", "kafka:", "lambda:", "webhook:", "flush_timeout:"):
        assert key in text, key


@pytest.fixture(autouse=True)
def doc_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # file_output's ./events.txt lands here
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "docs-test")  # the Lambda example takes credentials from the environment
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "docs-test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_block_builds_a_hub(index):
    config = yaml.safe_load(BLOCKS[index])
    assert isinstance(config, dict)
    hub = OutputHub.from_config(config)
    assert hub.sink_names
    hub.start()
    report = hub.close(0.5, report=False)
    assert report.counters.submitted == 0


def test_sink_names_of_the_doc_blocks():
    names = []
    for block in BLOCKS:
        hub = OutputHub.from_config(yaml.safe_load(block))
        names.extend(hub.sink_names)
        hub.close(0, report=False)
    for name in ("forwarders.slack", "forwarders.kafka", "forwarders.aws.lambda", "forwarders.webhook",
                 "http_output", "program_output", "syslog_output", "stdout_output", "file_output", "stderr_output"):
        assert name in names
