"""AWS Lambda forwarder against moto's in-process Lambda (no Docker: the simple backend)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from outputs_helpers import make_alert

from pdigpy.outputs import ConfigError, OutputHub

pytest.importorskip("boto3", reason="boto3 not installed (pip install 'pdigpy[aws]')")
moto = pytest.importorskip("moto", reason="moto not installed (pip install 'pdigpy[test]')")

from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def invocations(monkeypatch):
    """Record what moto's simple Lambda backend receives (moto's code, wrapped; ours untouched)."""
    seen = []
    original = LambdaSimpleBackend.invoke

    def recording(self, function_name, qualifier, body, headers, response_headers):
        seen.append({"function": function_name, "body": body, "headers": dict(headers)})
        return original(self, function_name, qualifier, body, headers, response_headers)

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", recording)
    return seen


@pytest.fixture
def lambda_function(aws_env):
    import boto3

    with moto.mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="pdigpy-test", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("handler.py", "def handler(event, context):\n    return event\n")
        boto3.client("lambda", region_name="us-east-1").create_function(
            FunctionName="falco-alerts", Runtime="python3.11", Role=role, Handler="handler.handler",
            Code={"ZipFile": code.getvalue()})
        yield "falco-alerts"


def lambda_config(**lam) -> dict:
    return {"stderr_output": {"enabled": False},
            "forwarders": {"aws": {"region": "us-east-1", "lambda": {"functionname": "falco-alerts", **lam}}}}


def test_invoke_carries_the_alert_as_payload(lambda_function, invocations, receiver):
    config = lambda_config()
    config["forwarders"]["webhook"] = {"address": receiver.url}
    hub = OutputHub.from_config(config)
    hub.start()
    alert = make_alert()
    hub.submit(alert)
    report = hub.close(10, report=False)
    assert report.all_delivered, report.lines()
    c = report.counters.sinks["forwarders.aws.lambda"]
    assert (c.queued, c.sent, c.failed) == (1, 1, 0)
    [call] = invocations
    assert call["function"] == "falco-alerts"
    assert call["headers"].get("X-Amz-Invocation-Type") == "RequestResponse"
    assert call["headers"].get("X-Amz-Log-Type") == "Tail"
    body = call["body"].encode() if isinstance(call["body"], str) else call["body"]
    assert not body.endswith(b"\n")  # json.Marshal
    payload = json.loads(body)
    assert payload["rule"] == alert.rule and payload["output_fields"] == alert.output_fields
    assert body + b"\n" == receiver.requests[0].body  # the same FalcoPayload as the webhook's


def test_event_invocation_and_minimumpriority(lambda_function, invocations):
    from pdigpy.engine.priority import Priority

    hub = OutputHub.from_config(lambda_config(invocationtype="Event", minimumpriority="critical"))
    hub.start()
    hub.submit(make_alert(rule="low", priority=Priority.WARNING))
    hub.submit(make_alert(rule="high", priority=Priority.CRITICAL))
    report = hub.close(10, report=False)
    assert report.counters.sinks["forwarders.aws.lambda"].sent == 1
    [call] = invocations
    assert json.loads(call["body"])["rule"] == "high"
    assert call["headers"].get("X-Amz-Invocation-Type") == "Event"
    assert "X-Amz-Log-Type" not in call["headers"]  # LogType applies to synchronous calls only


def test_no_credentials_is_a_startup_error(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match=r"^forwarders.aws: no AWS credentials found"):
        OutputHub.from_config(lambda_config())


def test_no_region_is_a_startup_error(aws_env):
    config = lambda_config()
    del config["forwarders"]["aws"]["region"]
    with pytest.raises(ConfigError, match=r"^forwarders.aws.region: no AWS region"):
        OutputHub.from_config(config)


# -- a Lambda-compatible endpoint of the test's own (forwarders.aws.endpoint) ------------------------

def endpoint_config(url: str, **lam) -> dict:
    return {"stderr_output": {"enabled": False}, "output_timeout": 1000,
            "pdigpy": {"retry": {"window": 5, "initial_backoff": 0.05, "max_backoff": 0.1}},
            "forwarders": {"aws": {"region": "eu-west-1", "endpoint": url,
                                   "lambda": {"functionname": "falco-alerts", **lam}}}}


def invoke(config: dict):
    hub = OutputHub.from_config(config)
    hub.start()
    hub.submit(make_alert())
    return hub.close(10, report=False)


def test_endpoint_receives_the_invoke_api_call(aws_env, receiver):
    report = invoke(endpoint_config(receiver.url))
    assert report.counters.sinks["forwarders.aws.lambda"].sent == 1
    [req] = receiver.requests
    assert req.method == "POST"
    assert req.path == "/2015-03-31/functions/falco-alerts/invocations"
    assert req.header("X-Amz-Invocation-Type") == "RequestResponse"
    assert req.header("Authorization").startswith("AWS4-HMAC-SHA256 Credential=testing/")
    payload = json.loads(req.body)
    assert list(payload)[:4] == ["uuid", "output", "priority", "rule"]


def test_throttling_and_5xx_are_retried(aws_env, receiver):
    answers = iter([429, 500])
    receiver.status = lambda req: next(answers, 200)
    report = invoke(endpoint_config(receiver.url))
    c = report.counters.sinks["forwarders.aws.lambda"]
    assert (c.sent, c.retried, c.failed) == (1, 2, 0)
    assert len(receiver.requests) == 3


def test_a_missing_function_is_a_final_failure(aws_env, receiver):
    receiver.status = 404
    report = invoke(endpoint_config(receiver.url))
    c = report.counters.sinks["forwarders.aws.lambda"]
    assert (c.sent, c.retried, c.failed) == (0, 0, 1)
    assert len(receiver.requests) == 1
