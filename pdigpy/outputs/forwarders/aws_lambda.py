"""AWS Lambda, as falcosidekick's ``aws.lambda`` output, through boto3.

Install with ``pip install 'pdigpy[aws]'``. falcosidekick's layout:

- ``forwarders.aws``: ``region``, ``accesskeyid``, ``secretaccesskey``
  (sidekick's names), ``sessiontoken``, ``profile`` and ``endpoint`` (pdigpy
  additions; ``endpoint`` is the URL of a Lambda-compatible API), and
  ``checkidentity`` (default false here: when true, STS GetCallerIdentity runs
  at start-up and a failure stops pdigpy there);
- ``forwarders.aws.lambda``: ``functionname`` (required), ``invocationtype``
  (``RequestResponse`` default, ``Event``, ``DryRun``), ``logtype`` (``Tail``
  default, or ``None``; sent only with RequestResponse, where it applies),
  ``minimumpriority``.

Credentials and region otherwise come from boto3's usual chain (AWS_*
environment, profile, instance or task role). The payload is falcosidekick's
FalcoPayload JSON (json.Marshal). A function that raises (``FunctionError``)
is a final failure; throttling, 5xx and connection errors are retried within
the retry window; botocore's own retries are off so the window is the only one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.payloads import marshal_payload
from pdigpy.outputs.retry import DeliveryError
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings

AWS_KEYS = ("region", "accesskeyid", "secretaccesskey", "sessiontoken", "profile", "endpoint", "checkidentity", "lambda")
LAMBDA_KEYS = ("functionname", "invocationtype", "logtype", "minimumpriority")
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
INSTALL_HINT = "boto3 is not installed; pip install 'pdigpy[aws]'"
RETRYABLE_CODES = frozenset({"TooManyRequestsException", "ServiceException", "ResourceNotReadyException",
                             "EC2ThrottledException", "ThrottlingException", "RequestTimeout"})


class LambdaForwarder(Sink):
    name = "forwarders.aws.lambda"
    retry = True
    needs_payload = True

    def __init__(self, client: Any, function: str, invocation_type: str, log_type: str, min_priority) -> None:
        super().__init__(min_priority)
        self.client = client
        self.function = function
        self.invocation_type = invocation_type
        self.log_type = log_type

    def send(self, item: Rendered) -> None:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        assert item.payload is not None
        params: dict[str, Any] = {"FunctionName": self.function, "InvocationType": self.invocation_type,
                                  "Payload": marshal_payload(item.payload)}
        if self.invocation_type == "RequestResponse" and self.log_type != "None":
            params["LogType"] = self.log_type
        try:
            response = self.client.invoke(**params)
        except NoCredentialsError:
            raise DeliveryError("lambda: no AWS credentials", retryable=False) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise DeliveryError(f"lambda {self.function}: {code or status}: {exc}",
                                retryable=code in RETRYABLE_CODES or status == 429 or status >= 500) from None
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            raise DeliveryError(f"lambda {self.function}: {exc}") from None
        if response.get("FunctionError"):
            body = response["Payload"].read()[:200].decode("utf-8", "replace") if response.get("Payload") else ""
            raise DeliveryError(f"lambda {self.function}: function error {response['FunctionError']}: {body}",
                                retryable=False)
        status = response.get("StatusCode", 0)
        if status not in (200, 202, 204):
            raise DeliveryError(f"lambda {self.function}: unexpected status {status}")
        if response.get("Payload") is not None:
            response["Payload"].read()


def lambda_forwarder(aws: Section, forwarders: Section, settings: OutputSettings) -> LambdaForwarder:
    aws.check_keys(AWS_KEYS)
    section = aws.section("lambda")
    section.check_keys(LAMBDA_KEYS)
    function = section.required_str("functionname", "give the Lambda function name or ARN")
    invocation_type = section.choice("invocationtype", INVOCATION_TYPES, "RequestResponse")
    log_type = section.choice("logtype", ("Tail", "None"), "Tail")
    try:
        import boto3
        import botocore.config
        from botocore.exceptions import BotoCoreError, ClientError, NoRegionError, ProfileNotFound
    except ImportError:
        raise ConfigError(section.path, INSTALL_HINT) from None
    try:
        session = boto3.session.Session(
            aws_access_key_id=aws.str("accesskeyid") or None,
            aws_secret_access_key=aws.str("secretaccesskey") or None,
            aws_session_token=aws.str("sessiontoken") or None,
            region_name=aws.str("region") or None,
            profile_name=aws.str("profile") or None,
        )
    except ProfileNotFound as exc:
        raise ConfigError(aws.key("profile"), f"{exc}; fix the profile name") from None
    if session.get_credentials() is None:
        raise ConfigError(aws.path, "no AWS credentials found; set forwarders.aws.accesskeyid and secretaccesskey, "
                          "the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment, a profile, or a task role")
    timeout = settings.output_timeout
    client_config = botocore.config.Config(connect_timeout=timeout, read_timeout=timeout,
                                           retries={"total_max_attempts": 1})
    try:
        client = session.client("lambda", endpoint_url=aws.str("endpoint") or None, config=client_config)
    except NoRegionError:
        raise ConfigError(aws.key("region"), "no AWS region; set forwarders.aws.region or AWS_REGION") from None
    except ValueError as exc:  # a malformed endpoint URL
        raise ConfigError(aws.key("endpoint"), f"{exc}") from None
    if aws.bool("checkidentity", False):
        try:
            session.client("sts", config=client_config).get_caller_identity()
        except (BotoCoreError, ClientError) as exc:
            raise ConfigError(aws.key("checkidentity"), f"STS GetCallerIdentity failed ({exc}); fix the credentials "
                              "or set checkidentity=false") from None
    return LambdaForwarder(client, function, invocation_type, log_type, section.priority("minimumpriority"))
