"""Each function's IAM role, as the SAM translator makes it from template.yaml, allows exactly
the DynamoDB and SQS calls that function makes: nothing it does would be denied in AWS, nothing
it may do goes unused, nothing is a wildcard, and the functions behind GET routes (and the
authorizer) only read. Deployed with a customer managed key (KmsKeyArn), each role may also use
the key exactly as the services that function calls use it on its behalf, and without one, not
at all.

What each function does is recorded, not assumed: every path of every operation - and of the
functions no route serves, the authorizer and the purge - runs against moto while a botocore
hook writes down each call as IAM authorises it (an item of a transaction needs the action of
its kind, a batch needs its action on each table, a message needs sqs:SendMessage on its queue).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from local_api.event_sources import processed_records
from local_api.events import (
    LambdaContext,
    authorizer_event,
    http_api_event,
    sqs_event,
    with_authorizer_context,
)
from local_api.runtime import (
    LocalFunctions,
    LocalQueue,
    dynamodb_client,
    sqs_client,
    streams_client,
)
from local_api.stream_sources import StreamPoller, TtlSweeper
from local_api.template import Route, SamTemplate
from notify_bindings import dependencies
from notify_bindings.platform.sids import new_sid
from tests.conftest import Credentials, new_account, new_service
from tests.factories import account_store, basic, new_credential
from tests.template.conftest import KMS_KEY_ARN, with_conditions_decided

Document = dict[str, Any]
# (IAM action, the table, "<table>/index/<name>" or the queue it is allowed on, by logical id;
# or, for the customer managed key, "KmsKeyArn via <service>" - the service the key is used
# through, per the statement's kms:ViaService condition - or "KmsKeyArn" through any)
Grant = tuple[str, str]
KMS_KEY_PARAMETER = "KmsKeyArn"
# The stack's own key that seals credentials and auth tokens, and the only encryption context
# keys a Credential is sealed with.
CREDENTIALS_KEY = "CredentialsKey"
CREDENTIAL_CONTEXT = {
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["account_sid", "credential_sid"]},
    "Null": {"kms:EncryptionContextKeys": "false"},
}
# Who may open what the credentials key sealed: the functions that deliver, and no other.
DELIVERING_PREFIX = "Deliver"

# The contract: what serves a GET may only read.
READ_ONLY_ROUTES = {
    "GET /v1/Services",
    "GET /v1/Services/{Sid}",
    "GET /v1/Services/{ServiceSid}/Bindings",
    "GET /v1/Services/{ServiceSid}/Bindings/{Sid}",
    "GET /v1/Services/{ServiceSid}/Users",
    "GET /v1/Services/{ServiceSid}/Users/{Identity}",
    "GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings",
    "GET /v1/Credentials",
    "GET /v1/Credentials/{Sid}",
}
READ_ONLY_ACTIONS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
        # Reading the page-token secret (the lists, which sign page tokens).
        "secretsmanager:GetSecretValue",
        # Decrypting what those reads return, with the customer managed key.
        "kms:Decrypt",
    }
)
# What SAM gives every function: writing its own logs, nothing else.
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# What SAM adds to a function with an SQS event source, for Lambda to poll the queue with the
# function's role (receive, delete, read its attributes); the function's code never uses it.
SQS_POLLING_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
# And for a DynamoDB stream event source: reading the stream, for Lambda.
STREAM_READING_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
_TRANSACTION_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# The kind of resource each service's actions may name.
_RESOURCE_TYPES = {
    "dynamodb": "AWS::DynamoDB::Table",
    "sqs": "AWS::SQS::Queue",
    "events": "AWS::Events::EventBus",
    "secretsmanager": "AWS::SecretsManager::Secret",
}


# -- reading roles ---------------------------------------------------------------------------


def role_of(translated: Document, function: str) -> Document:
    role_id, attribute = translated["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"]
    assert attribute == "Arn"
    role: Document = translated["Resources"][role_id]["Properties"]
    return role


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed_statements(translated: Document, function: str) -> list[Document]:
    return [
        statement
        for policy in role_of(translated, function).get("Policies", [])
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
        if statement.get("Effect") == "Allow"
    ]


def policy_resource(action: str, resource: Any, resources: dict[str, Document]) -> str | None:
    """What a policy resource names, if it names exactly one of the template's resources of the
    kind the action acts on: a table (or "<table>/index/<name>") for DynamoDB, a queue for
    SQS; None for anything else."""
    kind = _RESOURCE_TYPES.get(action.split(":", 1)[0])
    if isinstance(resource, dict) and set(resource) == {"Ref"}:  # a secret's Ref is its ARN
        is_secret = kind == "AWS::SecretsManager::Secret"
        return (
            resource["Ref"]
            if is_secret and resources.get(resource["Ref"], {}).get("Type") == kind
            else None
        )
    if isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}:
        name, attribute = resource["Fn::GetAtt"]
        is_kind = resources.get(name, {}).get("Type") == kind
        return name if is_kind and attribute == "Arn" else None
    if (
        kind == "AWS::DynamoDB::Table"
        and isinstance(resource, dict)
        and set(resource) == {"Fn::Sub"}
    ):
        for table, definition in resources.items():
            if definition["Type"] != kind:
                continue
            for index in definition["Properties"].get("GlobalSecondaryIndexes", []):
                if resource["Fn::Sub"] == f"${{{table}.Arn}}/index/{index['IndexName']}":
                    return f"{table}/index/{index['IndexName']}"
    return None


_VIA_SERVICE = re.compile(r"([a-z]+)\.\$\{AWS::Region\}\.amazonaws\.com")


def key_use(statement: Document) -> list[str]:
    """How a statement on the customer managed key names it: "KmsKeyArn via <service>" for each
    service its kms:ViaService condition allows (as `!Sub <service>.${AWS::Region}...`), or
    "KmsKeyArn" when it has no condition. Any other resource or condition is refused."""
    assert statement.get("Resource") == {"Ref": KMS_KEY_PARAMETER}, (
        f"a key other than {KMS_KEY_PARAMETER}: {statement}"
    )
    if "Condition" not in statement:
        return [KMS_KEY_PARAMETER]
    assert set(statement["Condition"]) == {"StringEquals"}, statement
    assert set(statement["Condition"]["StringEquals"]) == {"kms:ViaService"}, statement
    services = []
    for value in _as_list(statement["Condition"]["StringEquals"]["kms:ViaService"]):
        match = _VIA_SERVICE.fullmatch(value.get("Fn::Sub", "") if isinstance(value, dict) else "")
        assert match, f"kms:ViaService {value}: not a service of the stack's own region"
        services.append(f"{KMS_KEY_PARAMETER} via {match[1]}")
    return services


def grants(translated: Document, function: str) -> set[Grant]:
    resources = translated["Resources"]
    granted = set()
    for statement in allowed_statements(translated, function):
        for action in _as_list(statement.get("Action", [])):
            if statement.get("Resource") == {"Fn::GetAtt": [CREDENTIALS_KEY, "Arn"]}:
                assert action.startswith("kms:"), statement
                if action == "kms:GenerateDataKey":  # sealing: a Credential's context only
                    assert statement.get("Condition") == CREDENTIAL_CONTEXT, statement
                granted.add((action, CREDENTIALS_KEY))
                continue
            if action.startswith("kms:"):
                granted |= {(action, use) for use in key_use(statement)}
                continue
            assert "Condition" not in statement, statement
            for resource in _as_list(statement.get("Resource", [])):
                named = policy_resource(action, resource, resources)
                assert named is not None, (
                    f"{function} may {action} on {resource}, not one of its tables or queues"
                )
                granted.add((action, named))
    return granted


def kms_grants_needed(source: Document, function: str, calls: set[Grant]) -> set[Grant]:
    """What `function`'s role must be allowed on the customer managed key, given the calls it
    makes, as AWS documents each service's use of such a key:
    - DynamoDB decrypts a table's data key as the principal reading or writing it (kms:Decrypt
      through DynamoDB);
    - SQS makes a data key as the sender of a message (kms:GenerateDataKey, and kms:Decrypt to
      check it) and decrypts it as its receiver (kms:Decrypt); Lambda receives from a queue
      event source, and sends a failed stream batch's record to its OnFailure queue, as the
      function's role;
    - Lambda reads a stream as the function's role and the records are decrypted with the
      table's key; the service that use goes through is not documented, so this kms:Decrypt
      names none;
    - Lambda decrypts the environment through a grant it makes itself, CloudWatch Logs encrypts
      as its own service principal (the key policy's part), and the change-event bus uses an
      AWS owned key: none of these needs the role."""
    definition = SamTemplate(source).functions[function]
    decrypt_via, generate_via = set(), set()
    if any(action.startswith("dynamodb:") for action, _ in calls):
        decrypt_via.add("dynamodb")
    if any(action.startswith("secretsmanager:") for action, _ in calls):
        decrypt_via.add("secretsmanager")  # it decrypts a secret as the principal reading it
    if ("sqs:SendMessage" in {action for action, _ in calls}) or lambda_grants(source, function):
        decrypt_via.add("sqs")
        generate_via.add("sqs")
    if definition.sqs_sources:
        decrypt_via.add("sqs")
    needed = {("kms:GenerateDataKey", f"{KMS_KEY_PARAMETER} via {s}") for s in generate_via}
    if definition.stream_sources:
        return needed | {("kms:Decrypt", KMS_KEY_PARAMETER)}
    return needed | {("kms:Decrypt", f"{KMS_KEY_PARAMETER} via {s}") for s in decrypt_via}


def lambda_grants(source: Document, function: str) -> set[Grant]:
    """What Lambda itself does with the function's role: send the record of a stream batch
    that kept failing to the event source's OnFailure destination (SAM grants it)."""
    events = source["Resources"][function]["Properties"].get("Events", {}).values()
    return {
        (
            "sqs:SendMessage",
            event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0],
        )
        for event in events
        if event["Type"] == "DynamoDB" and "DestinationConfig" in event["Properties"]
    }


def functions_serving(source: Document, route_keys: set[str]) -> set[str]:
    return {r.function for r in SamTemplate(source).routes if r.route_key in route_keys}


def authorizers(source: Document) -> set[str]:
    return {r.authorizer.function for r in SamTemplate(source).routes if r.authorizer}


# -- checks ------------------------------------------------------------------------------------


def check_no_wildcards(source: Document, translated: Document) -> None:
    """No wildcard action or resource, no NotAction/NotResource, no managed policy but logging
    (and, for a function that a queue feeds, Lambda's polling of it)."""
    for function, definition in SamTemplate(source).functions.items():
        role = role_of(translated, function)
        managed = [
            BASIC_EXECUTION_POLICY,
            *([SQS_POLLING_POLICY] if definition.sqs_sources else []),
            *([STREAM_READING_POLICY] if definition.stream_sources else []),
        ]
        assert sorted(role.get("ManagedPolicyArns", [])) == sorted(managed), function
        for statement in allowed_statements(translated, function):
            assert not {"NotAction", "NotResource"} & set(statement), (function, statement)
            for action in _as_list(statement["Action"]):
                assert "*" not in action, (function, action)
            for resource in _as_list(statement["Resource"]):
                assert "*" not in json.dumps(resource), (function, resource)
        grants(translated, function)  # every resource is one of its tables or queues


def check_read_only(source: Document, translated: Document) -> None:
    """The functions behind GET routes (fetch and list, of Services and of bindings) and the
    authorizer may only read."""
    readers = functions_serving(source, READ_ONLY_ROUTES) | authorizers(source)
    assert len(readers) == len(READ_ONLY_ROUTES) + 1
    for function in readers:
        actions = {action for action, _ in grants(translated, function)}
        assert actions, f"{function} may not read anything"
        assert actions <= READ_ONLY_ACTIONS, f"{function} may {actions - READ_ONLY_ACTIONS}"
        writes = {a for a in actions if any(w in a for w in ("Put", "Update", "Delete", "Write"))}
        assert not writes, (function, writes)


def check_only_deliverers_decrypt(source: Document, translated: Document) -> None:
    """What the credentials key sealed (Credentials' secrets, auth tokens) may be opened only
    by the functions that deliver; no other role may decrypt with that key."""
    for function in SamTemplate(source).functions:
        actions = {a for a, use in grants(translated, function) if use == CREDENTIALS_KEY}
        if not function.startswith(DELIVERING_PREFIX):
            assert "kms:Decrypt" not in actions, f"{function} may decrypt credentials"
        assert actions <= {"kms:Decrypt", "kms:GenerateDataKey"}, (function, actions)


def check_least_privilege(
    source: Document, deployed: Document, used: dict[str, set[Grant]], *, key_given: bool
) -> None:
    """Each role allows exactly the calls its function was seen making (and what Lambda does
    with it for the function's event sources: sending a failed stream batch's record to the
    OnFailure destination) - and, deployed with a customer managed key, exactly the uses of the
    key that those calls make as the role; without one, none."""
    assert set(used) == set(SamTemplate(source).functions)
    for function, calls in used.items():
        granted = grants(deployed, function) - lambda_grants(source, function)
        expected = calls | (kms_grants_needed(source, function, calls) if key_given else set())
        # A use of the key through a service is allowed by the same action through any.
        denied = {
            (action, use)
            for action, use in expected - granted
            if (action, KMS_KEY_PARAMETER) not in granted or not use.startswith("KmsKeyArn via")
        }
        assert denied == set(), f"{function} would be denied {denied}"
        assert granted - expected == set(), f"{function} may {granted - expected} but never does"


# -- recording what the functions do -------------------------------------------------------------


class AwsCalls:
    """A botocore hook for DynamoDB and SQS clients: while recording, each call, written down as
    IAM authorises it."""

    EVENTS = (
        "before-parameter-build.dynamodb",
        "before-parameter-build.sqs",
        "before-parameter-build.events",
        "before-parameter-build.kms",
        "before-parameter-build.secretsmanager",
    )

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names  # physical table name or queue URL -> logical id
        self._recording: set[Grant] | None = None

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self._recording is not None:
            service = model.service_model.service_name
            self._recording.update(self._grants_needed(service, model.name, params))

    @contextmanager
    def recording(self) -> Iterator[set[Grant]]:
        calls: set[Grant] = set()
        self._recording = calls
        try:
            yield calls
        finally:
            self._recording = None

    @contextmanager
    def hooked(self, *clients: Any) -> Iterator[None]:
        for client in clients:
            for event in self.EVENTS:
                client.meta.events.register(event, self.hook)
        try:
            yield
        finally:
            for client in clients:
                for event in self.EVENTS:
                    client.meta.events.unregister(event, self.hook)

    def _grants_needed(
        self, service: str, operation: str, params: dict[str, Any]
    ) -> Iterator[Grant]:
        if service == "sqs":
            # IAM authorises a batch of messages as each of its messages: SendMessageBatch
            # needs sqs:SendMessage.
            action = operation.removesuffix("Batch")
            yield f"sqs:{action}", self._names.get(params["QueueUrl"], params["QueueUrl"])
        elif service == "kms":
            yield f"kms:{operation}", self._names.get(params["KeyId"], params["KeyId"])
        elif service == "secretsmanager":
            yield f"secretsmanager:{operation}", self._names.get(params["SecretId"], "?")
        elif service == "events":
            for entry in params["Entries"]:
                bus = entry.get("EventBusName", "default")
                yield f"events:{operation}", self._names.get(bus, bus)
        elif operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params["TransactItems"]:
                ((kind, request),) = item.items()
                yield _TRANSACTION_ACTIONS[kind], self._resource(request)
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table in params["RequestItems"]:
                yield f"dynamodb:{operation}", self._resource({"TableName": table})
        else:
            yield f"dynamodb:{operation}", self._resource(params)

    def _resource(self, request: dict[str, Any]) -> str:
        table = self._names.get(request["TableName"], request["TableName"])
        return f"{table}/index/{request['IndexName']}" if "IndexName" in request else table


@dataclass
class Given:
    """What a scenario drives: `function`, each of its calls recorded; and, recording nothing,
    the other functions, to set the scene as the caller's account."""

    function: str
    account_sid: str
    service_sid: str  # a fresh Service of the account, for this scenario alone
    guarded: list[Route]  # the routes whose authorizer `function` is
    queues: list[LocalQueue]  # the queues whose messages `function` is invoked with
    template: SamTemplate
    functions: LocalFunctions
    recorder: AwsCalls
    sqs: Any
    used: set[Grant] = field(default_factory=set)

    def request(
        self,
        path: str,
        *,
        form: Any = None,
        query: Any = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """What `function` answers to a request on its route, from the caller's account."""
        response: dict[str, Any] = self.invoke(
            self.route_event(self.function, path, form, query, method)
        )
        return response

    def invoke(self, event: dict[str, Any], *, timeout_seconds: int | None = None) -> Any:
        """Invoke `function` with `event` (within `timeout_seconds`, else its own timeout)."""
        with self.recorder.recording() as calls:
            if timeout_seconds is None:
                response = self.functions.invoke(self.function, event)
            else:
                context = LambdaContext(self.function, timeout_seconds=timeout_seconds)
                response = self.template.functions[self.function].load_handler()(event, context)
        self.used.update(calls)
        return response

    def call(self, route_key: str, path: str, **request: Any) -> dict[str, Any]:
        """What the function serving `route_key` answers, unrecorded."""
        (function,) = (r.function for r in self.template.routes if r.route_key == route_key)
        return self.functions.invoke(function, self.route_event(function, path, **request))

    def create_binding(self, service_sid: str, **form: str) -> str:
        reply = self.call(
            CREATE_BINDING, bindings_path(service_sid), form={"BindingType": "apn", **form}
        )
        assert reply["statusCode"] == 201, reply["body"]
        sid: str = json.loads(reply["body"])["sid"]
        return sid

    def deliver(self, queue: LocalQueue, timeout_seconds: int | None) -> list[tuple[str, Any]]:
        """Invoke `function` with each message now on `queue`, one at a time, and delete those
        it processed, as Lambda's event source does; each message's body and the response."""
        (source,) = (
            s
            for s in self.template.functions[self.function].sqs_sources
            if s.queue == queue.logical_id
        )
        messages: list[dict[str, Any]] = []
        while received := self.sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            messages += received
        delivered = []
        for message in messages:
            event = sqs_event([message], queue.arn)
            response = self.invoke(event, timeout_seconds=timeout_seconds)
            for record in processed_records(
                event["Records"], response, source.report_batch_item_failures
            ):
                self.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=record["receiptHandle"])
            delivered.append((message["Body"], response))
        return delivered

    def route_event(
        self,
        function: str,
        path: str,
        form: Any = None,
        query: Any = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """The event API Gateway passes `function` for a request once the authorizer has
        proved the caller's account."""
        (route,) = self.template.functions[function].routes
        event = http_api_event(
            route,
            path,
            method=method,
            query=urlencode(query or {}, doseq=True),
            headers={"Content-Type": "application/x-www-form-urlencoded"} if form else {},
            body=urlencode(form or {}, doseq=True).encode(),
        )
        return with_authorizer_context(event, {"accountSid": self.account_sid})


CREATE_BINDING = "POST /v1/Services/{ServiceSid}/Bindings"
DELETE_BINDING = "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}"
DELETE_SERVICE = "DELETE /v1/Services/{Sid}"
SERVICES = "/v1/Services"


def service_path(service_sid: str) -> str:
    return f"{SERVICES}/{service_sid}"


def bindings_path(service_sid: str) -> str:
    return f"{service_path(service_sid)}/Bindings"


def sample_path(route: Route) -> str:
    """A path on `route`, its parameters made up."""
    if route.is_default:
        return "/v1/Nothing"
    kinds = {"ServiceSid": "IS", "Sid": "BS" if route.path.endswith("/Bindings/{Sid}") else "IS"}
    return re.sub(
        r"\{(\w+)\}",
        lambda name: "alice" if name.group(1) == "Identity" else new_sid(kinds[name.group(1)]),
        route.path,
    )


# -- every path of every function ----------------------------------------------------------------


def _create_services(given: Given) -> None:
    assert given.request(SERVICES, form={"FriendlyName": "alerts"})["statusCode"] == 201
    assert given.request(SERVICES, form={})["statusCode"] == 201  # every setting its default
    apn = new_credential(given.account_sid, "apn")
    assert given.request(SERVICES, form={"ApnCredentialSid": apn})["statusCode"] == 201
    assert given.request(SERVICES, form={"SmsCredentialSid": apn})["statusCode"] == 400


def _list_services(given: Given) -> None:
    new_service(given.account_sid, friendly_name="alerts")
    new_service(given.account_sid, friendly_name="alerts")
    assert given.request(SERVICES)["statusCode"] == 200
    named = given.request(SERVICES, query={"FriendlyName": "alerts", "PageSize": "1"})
    assert named["statusCode"] == 200
    next_page = json.loads(named["body"])["meta"]["next_page_url"]
    assert next_page, "two Services are named alerts: a second page follows"
    query = parse_qsl(urlsplit(next_page).query)
    assert given.request(SERVICES, query=query)["statusCode"] == 200


def _fetch_service(given: Given) -> None:
    assert given.request(service_path(given.service_sid))["statusCode"] == 200
    assert given.request(service_path(new_sid("IS")))["statusCode"] == 404


def _update_service(given: Given) -> None:
    path = service_path(given.service_sid)
    settings = {"FriendlyName": "alerts", "DefaultApnNotificationProtocolVersion": "4"}
    assert given.request(path, form=settings)["statusCode"] == 200
    cleared = {"FriendlyName": "", "LogEnabled": ""}  # back to null and to the default
    assert given.request(path, form=cleared)["statusCode"] == 200
    assert given.request(service_path(new_sid("IS")), form=settings)["statusCode"] == 404
    sms = {"SmsCredentialSid": new_credential(given.account_sid, "sms")}
    assert given.request(path, form=sms)["statusCode"] == 200


def _delete_service(given: Given) -> None:
    path = service_path(given.service_sid)
    given.create_binding(given.service_sid, Identity="alice", Address="token-1")
    assert given.request(path)["statusCode"] == 204
    assert given.request(path)["statusCode"] == 404  # being purged: asks for the purge again
    assert given.request(service_path(new_sid("IS")))["statusCode"] == 404


def _purge_until_done(given: Given) -> None:
    service = given.service_sid
    for number in range(3):
        given.create_binding(
            service, Identity=f"user-{number % 2}", Address=f"token-{number}", Tag="premium"
        )
    assert given.call(DELETE_SERVICE, service_path(service))["statusCode"] == 204
    (queue,) = given.queues

    # No time left at first: the purge hands its work on to a message. From then on, the
    # function's own timeout.
    rounds = 0
    budget: int | None = 0
    while mine := [response for body, response in given.deliver(queue, budget) if service in body]:
        assert mine == [{"batchItemFailures": []}]
        rounds, budget = rounds + 1, None

    assert rounds >= 2  # handed on, then done: it asked for no further round
    settings, client = dependencies.settings(), dependencies.dynamodb()
    left = client.query(
        TableName=settings.binding_index_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": service}},
    )
    assert left["Items"] == []
    assert "Item" not in client.get_item(
        TableName=settings.services_table,
        Key={"AccountSid": {"S": given.account_sid}, "Sid": {"S": service}},
    )


def _authorize_every_way(given: Given) -> None:
    # A new account: credentials no warm authorizer has proven yet, so each is looked up.
    account = new_account()
    accounts = account_store()
    key, secret = accounts.create_api_key(account.sid)
    stranger = Credentials(new_sid("AC"), account.token)
    proves = {"accountSid": account.sid}
    cases: list[tuple[str | None, dict[str, str]]] = [
        (basic(account.sid, account.token), proves),
        (basic(key.sid, secret), proves),
        (basic(account.sid, "0" * 32), {}),  # a wrong token
        (basic(key.sid, account.token), {}),  # a wrong secret
        (basic(stranger.sid, stranger.token), {}),  # no such account
        ("Bearer " + account.token, {}),
        (None, {}),
    ]
    for number, (authorization, context) in enumerate(cases):
        route = given.guarded[number % len(given.guarded)]
        headers = {"Authorization": authorization} if authorization else {}
        event = authorizer_event(http_api_event(route, sample_path(route), headers=headers))
        assert given.invoke(event) == {"isAuthorized": True, "context": context}, authorization


def _create_then_replace(given: Given) -> None:
    path = bindings_path(given.service_sid)
    token = {"Identity": "alice", "BindingType": "apn", "Address": "token-1"}
    assert given.request(path, form=token)["statusCode"] == 201  # a new binding
    assert given.request(path, form=token)["statusCode"] == 201  # the same again: unchanged
    assert given.request(path, form={**token, "Tag": "beta"})["statusCode"] == 201  # replaced
    assert given.request(path, form={**token, "Identity": "bob"})["statusCode"] == 201  # moved
    assert given.request(bindings_path(new_sid("IS")), form=token)["statusCode"] == 404
    credential = {**token, "CredentialSid": new_credential(given.account_sid, "apn")}
    assert given.request(path, form=credential)["statusCode"] == 201
    # At the limit of a Service that evicts the oldest binding: the 21st evicts it.
    evicting = new_service(given.account_sid, identity_binding_limit_policy="evict_oldest")
    for number in range(20):
        given.create_binding(evicting, Identity="carol", Address=f"carol-{number}")
    twenty_first = {**token, "Identity": "carol", "Address": "carol-20"}
    assert given.request(bindings_path(evicting), form=twenty_first)["statusCode"] == 201
    # A create for an identity whose erasure was interrupted finishes the erasure first.
    given.create_binding(given.service_sid, Identity="dave", Address="dave-1")
    mark_erasing(given.account_sid, given.service_sid, "dave")
    dave = {**token, "Identity": "dave", "Address": "dave-2"}
    assert given.request(path, form=dave)["statusCode"] == 201
    # Bindings that expire: an unchanged create a day later moves their expiry on; once
    # expired, a create at the address of one takes it (and its index items), and a create for
    # an identity at its limit displaces one.
    expiring = new_service(given.account_sid, binding_ttl_days=1)
    for number in range(20):
        given.create_binding(expiring, Identity="erin", Address=f"erin-{number}")
    erin = {**token, "Identity": "erin", "Address": "erin-0"}
    with later(days=1.5):
        assert given.request(bindings_path(expiring), form=erin)["statusCode"] == 201
    with later(days=3):
        assert given.request(bindings_path(expiring), form=erin)["statusCode"] == 201
        more = {**erin, "Address": "erin-20"}
        assert given.request(bindings_path(expiring), form=more)["statusCode"] == 201


@contextmanager
def later(*, days: float) -> Iterator[None]:
    """Every function's clock, `days` from now."""
    moment = dependencies.now() + timedelta(days=days)
    real, dependencies.now = dependencies.now, lambda: moment
    try:
        yield
    finally:
        dependencies.now = real


def mark_erasing(account_sid: str, service_sid: str, identity: str) -> None:
    """The Service item as an erasure of `identity` leaves it when it stops after its first
    transaction: marked (its test is in tests/handlers/test_erasure.py)."""
    settings = dependencies.settings()
    dependencies.dynamodb().update_item(
        TableName=settings.services_table,
        Key={"AccountSid": {"S": account_sid}, "Sid": {"S": service_sid}},
        UpdateExpression="ADD ErasingIdentities :me",
        ExpressionAttributeValues={":me": {"SS": [identity]}},
    )


def _fetch(given: Given) -> None:
    path = bindings_path(given.service_sid)
    sid = given.create_binding(given.service_sid, Identity="alice", Address="token-1")
    assert given.request(f"{path}/{sid}")["statusCode"] == 200
    assert given.request(f"{path}/BS{'0' * 32}")["statusCode"] == 404


def _list_every_way(given: Given) -> None:
    path = bindings_path(given.service_sid)
    given.create_binding(given.service_sid, Identity="alice", Address="token-1", Tag="premium")
    given.create_binding(given.service_sid, Identity="bob", Address="token-2")
    assert given.request(path)["statusCode"] == 200
    assert given.request(path, query={"Tag": "premium", "PageSize": "1"})["statusCode"] == 200
    first = given.request(path, query={"PageSize": "1"})  # a next page: its token is signed
    next_page = json.loads(first["body"])["meta"]["next_page_url"]
    assert given.request(path, query=parse_qsl(urlsplit(next_page).query))["statusCode"] == 200
    assert given.request(path, query={"Identity": "alice"})["statusCode"] == 200
    assert given.request(path, query={"Address": "token-1"})["statusCode"] == 200
    assert given.request(bindings_path(new_sid("IS")))["statusCode"] == 404


def _delete_every_way(given: Given) -> None:
    path = bindings_path(given.service_sid)
    first = given.create_binding(given.service_sid, Identity="alice", Address="token-1")
    last = given.create_binding(given.service_sid, Identity="alice", Address="token-2")
    assert given.request(f"{path}/{first}")["statusCode"] == 204  # the identity keeps a binding
    assert given.request(f"{path}/{last}")["statusCode"] == 204  # its last: the record goes
    assert given.request(f"{path}/{last}")["statusCode"] == 404


def users_path(service_sid: str, identity: str | None = None) -> str:
    users = f"{service_path(service_sid)}/Users"
    return users if identity is None else f"{users}/{identity}"


def _fetch_user(given: Given) -> None:
    given.create_binding(given.service_sid, Identity="alice", Address="token-1")
    assert given.request(users_path(given.service_sid, "alice"))["statusCode"] == 200
    assert given.request(users_path(given.service_sid, "nobody"))["statusCode"] == 404
    assert given.request(users_path(new_sid("IS"), "alice"))["statusCode"] == 404


def _list_users(given: Given) -> None:
    path = users_path(given.service_sid)
    given.create_binding(given.service_sid, Identity="alice", Address="token-1")
    given.create_binding(given.service_sid, Identity="bob", Address="token-2")
    first = given.request(path, query={"PageSize": "1"})
    assert first["statusCode"] == 200
    next_page = json.loads(first["body"])["meta"]["next_page_url"]
    assert given.request(path, query=parse_qsl(urlsplit(next_page).query))["statusCode"] == 200
    assert given.request(users_path(new_sid("IS")))["statusCode"] == 404


def _list_user_bindings(given: Given) -> None:
    path = f"{users_path(given.service_sid, 'alice')}/Bindings"
    given.create_binding(given.service_sid, Identity="alice", Address="token-1", Tag="premium")
    given.create_binding(given.service_sid, Identity="alice", Address="token-2")
    assert given.request(path)["statusCode"] == 200
    assert given.request(path, query={"Tag": "premium", "PageSize": "1"})["statusCode"] == 200
    first = given.request(path, query={"PageSize": "1"})  # a next page: its token is signed
    next_page = json.loads(first["body"])["meta"]["next_page_url"]
    assert given.request(path, query=parse_qsl(urlsplit(next_page).query))["statusCode"] == 200
    assert given.request(f"{users_path(given.service_sid, 'bob')}/Bindings")["statusCode"] == 404


def _delete_user(given: Given) -> None:
    service = given.service_sid
    # One transaction: a binding without tags.
    given.create_binding(service, Identity="alice", Address="token-1")
    assert given.request(users_path(service, "alice"))["statusCode"] == 204
    assert given.request(users_path(service, "alice"))["statusCode"] == 404
    # More than one: the Service item marks the identity from the first to the last.
    for number in range(3):
        tags = [f"tag-{n}" for n in range(4)]
        reply = given.call(
            CREATE_BINDING,
            bindings_path(service),
            form={"Identity": "bob", "BindingType": "apn", "Address": f"bob-{number}", "Tag": tags},
        )
        assert reply["statusCode"] == 201, reply["body"]
    assert given.request(users_path(service, "bob"))["statusCode"] == 204
    # An identity record its deletes emptied: it still names the identity, and goes too.
    sid = given.create_binding(service, Identity="carol", Address="token-3")
    assert given.call(DELETE_BINDING, f"{bindings_path(service)}/{sid}")["statusCode"] == 204
    assert given.request(users_path(service, "carol"))["statusCode"] == 404
    assert given.request(users_path(new_sid("IS"), "alice"))["statusCode"] == 404
    # An identity with an expired binding: the erasure reads whether its address item is left.
    expiring = new_service(given.account_sid, binding_ttl_days=1)
    given.create_binding(expiring, Identity="dora", Address="token-4")
    with later(days=2):
        given.create_binding(expiring, Identity="dora", Address="token-5")
        assert given.request(users_path(expiring, "dora"))["statusCode"] == 204


def _unmatched(given: Given) -> None:
    path = bindings_path(given.service_sid)
    sid = given.create_binding(given.service_sid, Identity="alice", Address="token-1")
    assert given.request(f"{path}/{sid}", method="POST")["statusCode"] == 405
    assert given.request(f"{path}/{sid}/Nothing", method="GET")["statusCode"] == 404


def _report_dead_tokens(given: Given) -> None:
    path = f"{service_path(given.service_sid)}/DeadTokens"
    given.create_binding(given.service_sid, Identity="alice", Address="token-1", Tag="premium")
    removed = given.request(path, form={"Address": "token-1", "Reason": "invalid"})
    assert json.loads(removed["body"])["removed"] is True
    held_by_none = given.request(path, form={"Address": "token-1"})
    assert json.loads(held_by_none["body"])["removed"] is False
    unknown = f"{service_path(new_sid('IS'))}/DeadTokens"
    assert given.request(unknown, form={"Address": "token-1"})["statusCode"] == 404


def _consume_dead_tokens(given: Given) -> None:
    service = given.service_sid
    given.create_binding(service, Identity="alice", Address="token-1", Tag="premium")
    (queue,) = given.queues
    reports = [
        {"account_sid": given.account_sid, "service_sid": service, "address": "token-1"},
        {"account_sid": given.account_sid, "service_sid": new_sid("IS"), "address": "token-1"},
        {"address": "token-1"},  # malformed: dropped
    ]
    for report in reports:
        given.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(report))
    delivered = given.deliver(queue, None)
    assert [response for _, response in delivered] == [{"batchItemFailures": []}] * 3


def notifications_path(service_sid: str) -> str:
    return f"{service_path(service_sid)}/Notifications"


def _create_notifications(given: Given) -> None:
    path = notifications_path(given.service_sid)
    assert given.request(path, form={"Identity": "alice", "Body": "Hi"})["statusCode"] == 201
    assert given.request(path, form={"Body": "Hi"})["statusCode"] == 400
    assert given.request(notifications_path(new_sid("IS")), form={"Tag": "a"})["statusCode"] == 404
    # Its resolution cannot be queued: the notification is not kept.
    real = dependencies.sqs

    class Refusing:
        def send_message(self, **_: Any) -> None:
            raise RuntimeError("SQS is down")

    dependencies.sqs = lambda: Refusing()  # type: ignore[assignment]
    try:
        assert given.request(path, form={"Identity": "alice"})["statusCode"] == 500
    finally:
        dependencies.sqs = real


def _fetch_notification(given: Given) -> None:
    created = given.call(
        "POST /v1/Services/{ServiceSid}/Notifications",
        notifications_path(given.service_sid),
        form={"Identity": "alice"},
    )
    sid = json.loads(created["body"])["sid"]
    path = notifications_path(given.service_sid)
    assert given.request(f"{path}/{sid}")["statusCode"] == 200
    assert given.request(f"{path}/NT{'0' * 32}")["statusCode"] == 404


def _notify(given: Given, service_sid: str, form: Any) -> str:
    reply = given.call(
        "POST /v1/Services/{ServiceSid}/Notifications", notifications_path(service_sid), form=form
    )
    assert reply["statusCode"] == 201, reply["body"]
    sid: str = json.loads(reply["body"])["sid"]
    return sid


CREDENTIALS = "/v1/Credentials"
SMS_CREDENTIAL = {"Type": "sms", "ApiKey": "AC" + "1" * 32, "Secret": "2" * 32}


def _credential(given: Given) -> str:
    reply = given.call("POST /v1/Credentials", CREDENTIALS, form=SMS_CREDENTIAL)
    assert reply["statusCode"] == 201, reply["body"]
    sid: str = json.loads(reply["body"])["sid"]
    return sid


def _resolve_every_way(given: Given) -> None:
    """By identity, by tag (over two pages, the second by a continuation), direct addresses."""
    from notify_bindings.operations import resolution

    service = given.service_sid
    for number in range(3):
        given.create_binding(service, Identity="alice", Address=f"token-{number}", Tag="premium")
    _notify(given, service, {"Identity": "alice", "Body": "Hi"})
    _notify(given, service, {"Tag": "premium", "Body": "Hi"})
    _notify(given, service, {"ToBinding": '{"binding_type":"fcm","address":"direct"}'})
    (queue,) = given.queues
    # Pages of 2, and never time for a second one: a continuation after each.
    real = resolution.RESOLVE_PAGE_SIZE, resolution.CONTINUE_WITHIN_SECONDS
    resolution.RESOLVE_PAGE_SIZE, resolution.CONTINUE_WITHIN_SECONDS = 2, 10_000.0
    try:
        while delivered := given.deliver(queue, None):
            assert all(response == {"batchItemFailures": []} for _, response in delivered)
    finally:
        resolution.RESOLVE_PAGE_SIZE, resolution.CONTINUE_WITHIN_SECONDS = real


def _deliver_every_way(given: Given) -> None:
    """A copy of a batch claimed elsewhere shown again later; a batch delivered (its credential
    opened, a dead address removed, its callback signed with the account's token), and
    delivered again. Only the providers are fakes: the sender,
    and the callbacks' poster."""
    from notify_bindings.domain.notifications import DeliveryBatch, DeliveryCounts, ResolutionTask
    from notify_bindings.operations.callbacks import CallbackReport, SignedCallbacks
    from notify_bindings.operations.resolution import resolve
    from tests.handlers.test_notifications import RecordingSender

    class Unposted:
        def report(self, *_: Any, **__: Any) -> CallbackReport:
            return CallbackReport(accepted=1)

    service = new_service(given.account_sid, apn_credential_sid=_credential(given))
    given.create_binding(service, Identity="alice", Address="dead-token")
    given.create_binding(service, Identity="alice", Address="live-token")
    form = {"Identity": "alice", "DeliveryCallbackUrl": "https://example.com/callback"}
    sid = _notify(given, service, form)
    resolve(ResolutionTask(given.account_sid, service, sid), lambda: 1000.0)  # unrecorded
    (queue,) = given.queues
    received = given.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)["Messages"]
    mine = [message for message in received if sid in message["Body"]]
    tokens = SignedCallbacks(
        Unposted(),  # type: ignore[arg-type]
        lambda account_sid: dependencies.account_tokens().auth_token(account_sid),
    )
    fakes = {"sender": RecordingSender(), "callback_reporter": tokens}
    real = {name: getattr(dependencies, name) for name in fakes}
    for name, fake in fakes.items():
        setattr(dependencies, name, lambda fake=fake: fake)
    # A copy that finds its batch claimed by another function: shown again as the lease ends.
    store = dependencies.notification_store()
    claimed = DeliveryBatch.from_message(mine[0]["Body"]).sequence
    assert store.claim(given.account_sid, sid, claimed, dependencies.now().timestamp(), 300)
    held = sqs_event(mine[:1], queue.arn)
    assert given.invoke(held) == {"batchItemFailures": [{"itemIdentifier": mine[0]["MessageId"]}]}
    store.record(given.account_sid, sid, claimed, frozenset(), DeliveryCounts(), False)  # released
    try:
        for message in mine:
            event = sqs_event([message], queue.arn)
            assert given.invoke(event) == {"batchItemFailures": []}
            assert given.invoke(event) == {"batchItemFailures": []}  # finished: dropped
    finally:
        for name, function in real.items():
            setattr(dependencies, name, function)
    for message in received:
        given.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])


def _create_credentials(given: Given) -> None:
    assert given.request(CREDENTIALS, form=SMS_CREDENTIAL)["statusCode"] == 201
    assert given.request(CREDENTIALS, form={"Type": "fcm", "Secret": "AIza"})["statusCode"] == 400


def _list_credentials(given: Given) -> None:
    _credential(given)
    _credential(given)
    first = given.request(CREDENTIALS, query={"PageSize": "1"})
    assert first["statusCode"] == 200
    next_page = json.loads(first["body"])["meta"]["next_page_url"]
    assert (
        given.request(CREDENTIALS, query=parse_qsl(urlsplit(next_page).query))["statusCode"] == 200
    )


def _fetch_credential(given: Given) -> None:
    assert given.request(f"{CREDENTIALS}/{_credential(given)}")["statusCode"] == 200
    assert given.request(f"{CREDENTIALS}/{new_sid('CR')}")["statusCode"] == 404


def _update_credential(given: Given) -> None:
    path = f"{CREDENTIALS}/{_credential(given)}"
    assert given.request(path, form={"FriendlyName": "renamed"})["statusCode"] == 200
    changed = {"ApiKey": "AC" + "3" * 32, "Secret": "4" * 32}
    assert given.request(path, form=changed)["statusCode"] == 200
    assert given.request(f"{CREDENTIALS}/{new_sid('CR')}", form=changed)["statusCode"] == 404


def _delete_credential(given: Given) -> None:
    path = f"{CREDENTIALS}/{_credential(given)}"
    assert given.request(path)["statusCode"] == 204
    assert given.request(path)["statusCode"] == 404


def stream_of(given: Given, sweeper: TtlSweeper) -> StreamPoller:
    """The function's event source mapping on the bindings table's stream, from its end."""
    (source,) = given.template.functions[given.function].stream_sources
    stream = StreamPoller(
        given.functions,
        given.function,
        source,
        source.table,
        dynamodb_client(None),
        streams_client(None),
        sweeper,
        starting_position="LATEST",
    )
    stream.open()
    return stream


def _publish_changes(given: Given) -> None:
    """Every kind of record: a create, a replace, a delete (whose cause it reads), a delete by
    TTL, and a delete no write of ours made (for which it reads the Service)."""
    template = given.template
    (source,) = template.functions[given.function].stream_sources
    client = dynamodb_client(None)
    sweeper = TtlSweeper(client, template, {name: name for name in template.tables})
    stream = stream_of(given, sweeper)
    service = new_service(given.account_sid, binding_ttl_days=1)
    path = bindings_path(service)
    given.create_binding(service, Identity="alice", Address="token-1", Tag="premium")
    replaced = given.create_binding(service, Identity="bob", Address="token-1")
    assert given.call(DELETE_BINDING, f"{path}/{replaced}")["statusCode"] == 204
    given.create_binding(service, Identity="carol", Address="token-2")
    sweeper.sweep_once(now=(dependencies.now() + timedelta(days=2)).timestamp())
    given.create_binding(service, Identity="dave", Address="token-3")
    client.delete_item(
        TableName=source.table,
        Key={"ServiceSid": {"S": service}, "Address": {"S": "token-3"}},
    )

    with given.recorder.recording() as calls:
        assert stream.drain() >= 6
    given.used.update(calls)


def _forget_expired(given: Given) -> None:
    """A delete by TTL (whose index items and counts it removes), and the same record again."""
    template = given.template
    sweeper = TtlSweeper(dynamodb_client(None), template, {name: name for name in template.tables})
    stream = stream_of(given, sweeper)
    service = new_service(given.account_sid, binding_ttl_days=1)
    given.create_binding(service, Identity="alice", Address="token-1", Tag="premium")
    sweeper.sweep_once(now=(dependencies.now() + timedelta(days=2)).timestamp())
    batch = stream.next_batch()
    assert batch is not None

    with given.recorder.recording() as calls:
        assert given.functions.invoke(given.function, batch) == {"batchItemFailures": []}
        assert given.functions.invoke(given.function, batch) == {"batchItemFailures": []}
    given.used.update(calls)


# Every path of each function, by what invokes it: its route, or - for the functions that no
# route serves - the authorizer it is, or the queue it reads.
SCENARIOS: dict[str, Callable[[Given], None]] = {
    "POST /v1/Services": _create_services,
    "GET /v1/Services": _list_services,
    "GET /v1/Services/{Sid}": _fetch_service,
    "POST /v1/Services/{Sid}": _update_service,
    "DELETE /v1/Services/{Sid}": _delete_service,
    "POST /v1/Services/{ServiceSid}/Bindings": _create_then_replace,
    "GET /v1/Services/{ServiceSid}/Bindings/{Sid}": _fetch,
    "GET /v1/Services/{ServiceSid}/Bindings": _list_every_way,
    "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}": _delete_every_way,
    "GET /v1/Services/{ServiceSid}/Users": _list_users,
    "GET /v1/Services/{ServiceSid}/Users/{Identity}": _fetch_user,
    "GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings": _list_user_bindings,
    "DELETE /v1/Services/{ServiceSid}/Users/{Identity}": _delete_user,
    "POST /v1/Services/{ServiceSid}/DeadTokens": _report_dead_tokens,
    "POST /v1/Services/{ServiceSid}/Notifications": _create_notifications,
    "GET /v1/Services/{ServiceSid}/Notifications/{Sid}": _fetch_notification,
    "SQS ResolveQueue": _resolve_every_way,
    "SQS DeliveryQueue": _deliver_every_way,
    "POST /v1/Credentials": _create_credentials,
    "GET /v1/Credentials": _list_credentials,
    "GET /v1/Credentials/{Sid}": _fetch_credential,
    "POST /v1/Credentials/{Sid}": _update_credential,
    "DELETE /v1/Credentials/{Sid}": _delete_credential,
    "$default": _unmatched,
    "authorizer TwilioBasicAuth": _authorize_every_way,
    "SQS ServicePurgeQueue": _purge_until_done,
    "SQS DeadTokenQueue": _consume_dead_tokens,
    "Stream BindingsTable PublishChangesFunction": _publish_changes,
    "Stream BindingsTable ForgetExpiredFunction": _forget_expired,
}


def invokers(template: SamTemplate) -> dict[str, str]:
    """What invokes each function (as SCENARIOS names it) -> that function."""
    invoked = {route.route_key: route.function for route in template.routes}
    for route in template.routes:
        if route.authorizer is not None:
            invoked[f"authorizer {route.authorizer.name}"] = route.authorizer.function
    for function in template.functions.values():
        for source in function.sqs_sources:
            invoked[f"SQS {source.queue}"] = function.logical_id
        for stream in function.stream_sources:
            invoked[f"Stream {stream.table} {function.logical_id}"] = function.logical_id
    return invoked


@pytest.fixture(scope="module")
def calls_by_function(
    template: SamTemplate,
    functions: LocalFunctions,
    aws: dict[str, LocalQueue],
    event_buses: dict[str, str],
    account: Credentials,
) -> dict[str, set[Grant]]:
    """What each function of the template did through AWS, on every path it has."""
    names = {
        functions.environment[variable]: value["Ref"]
        for function in template.functions.values()
        for variable, value in function.environment.items()
        if isinstance(value, dict) and value.get("Ref") in template.tables
    }
    names.update({queue.url: logical_id for logical_id, queue in aws.items()})
    names.update(
        {name: logical_id for logical_id, name in event_buses.items() if "." not in logical_id}
    )
    # KMS keys by ARN (the functions name them so), from the same references as the buses.
    names.update(
        {
            arn: reference.split(".")[0]
            for reference, arn in event_buses.items()
            if reference.endswith(".Arn") and ":kms:" in arn
        }
    )
    names.update(
        {
            functions.references[logical_id]: logical_id
            for logical_id in template.of_type("AWS::SecretsManager::Secret")
        }
    )
    recorder = AwsCalls(names)
    invoked = invokers(template)
    assert set(SCENARIOS) == set(invoked), "a function is invoked in a way no scenario covers"

    used: dict[str, set[Grant]] = {}
    # The clients every function shares (dependencies builds them once per environment).
    clients = (
        dependencies.dynamodb(),
        dependencies.sqs(),
        dependencies.events(),
        dependencies.kms(),
        dependencies.secretsmanager(),
    )
    with recorder.hooked(*clients):
        for trigger, scenario in SCENARIOS.items():
            function = invoked[trigger]
            # Each function in an execution environment of its own: what it reads once per
            # environment (the page-token secret) it reads here again.
            dependencies.page_token_secret.cache_clear()
            given = Given(
                function=function,
                account_sid=account.sid,
                service_sid=new_service(account.sid),
                guarded=[
                    r for r in template.routes if r.authorizer and r.authorizer.function == function
                ],
                queues=[aws[s.queue] for s in template.functions[function].sqs_sources],
                template=template,
                functions=functions,
                recorder=recorder,
                sqs=sqs_client(None),
            )
            scenario(given)
            used.setdefault(function, set()).update(given.used)
    return used


# -- the template as it is --------------------------------------------------------------------


@pytest.mark.parametrize("deployed", ["without_key", "with_key"])
def test_given_the_template_when_translated_then_no_role_has_a_wildcard_or_a_resource_but_its_tables_and_queue(  # noqa: E501
    sam_document, deployed, request
):
    check_no_wildcards(sam_document, request.getfixturevalue(deployed))


@pytest.mark.parametrize("deployed", ["without_key", "with_key"])
def test_given_the_template_when_translated_then_fetch_list_and_the_authorizer_may_only_read(
    sam_document, deployed, request
):
    check_read_only(sam_document, request.getfixturevalue(deployed))


@pytest.mark.parametrize("deployed", ["without_key", "with_key"])
def test_given_the_template_when_translated_then_only_the_delivering_functions_may_decrypt_credentials(  # noqa: E501
    sam_document, deployed, request
):
    check_only_deliverers_decrypt(sam_document, request.getfixturevalue(deployed))


def test_given_every_path_of_every_function_when_run_then_its_role_allows_exactly_the_calls_it_made(
    sam_document, without_key, calls_by_function
):
    check_least_privilege(sam_document, without_key, calls_by_function, key_given=False)


def test_given_a_customer_managed_key_when_every_path_runs_then_each_role_may_use_it_exactly_as_its_calls_do(  # noqa: E501
    sam_document, with_key, calls_by_function
):
    check_least_privilege(sam_document, with_key, calls_by_function, key_given=True)


# -- the checks notice a broken template ------------------------------------------------------


def _statements(document: Document, function: str) -> list[Document]:
    statements: list[Document] = document["Resources"][function]["Properties"]["Policies"][0][
        "Statement"
    ]
    return statements


def _actions(document: Document, function: str, statement: int) -> list[str]:
    actions: list[str] = _statements(document, function)[statement]["Action"]
    return actions


def _allow(action: str, resource: Any) -> Document:
    return {"Effect": "Allow", "Action": [action], "Resource": resource}


def _kms_statements(document: Document, function: str) -> list[Document]:
    """The statements `function` has only when a customer managed key is given."""
    (conditional,) = (
        policy
        for policy in document["Resources"][function]["Properties"]["Policies"]
        if "Fn::If" in policy
    )
    statements: list[Document] = conditional["Fn::If"][1]["Statement"]
    return statements


def _deployed(translated: Document) -> list[tuple[Document, bool]]:
    return [
        (with_conditions_decided(translated, {KMS_KEY_PARAMETER: ""}), False),
        (with_conditions_decided(translated, {KMS_KEY_PARAMETER: KMS_KEY_ARN}), True),
    ]


def _each_deployment(check: Callable[[Document, Document], None]) -> Check:
    def run(source: Document, translated: Document, _: dict[str, set[Grant]]) -> None:
        for deployed, _key_given in _deployed(translated):
            check(source, deployed)

    return run


def _least_privilege(source: Document, translated: Document, used: dict[str, set[Grant]]) -> None:
    for deployed, key_given in _deployed(translated):
        check_least_privilege(source, deployed, used, key_given=key_given)


Check = Callable[[Document, Document, dict[str, set[Grant]]], None]
# Each check, over the template deployed without and with a customer managed key.
CHECKS: dict[str, Check] = {
    "no wildcards": _each_deployment(check_no_wildcards),
    "read only": _each_deployment(check_read_only),
    "least privilege": _least_privilege,
    "only deliverers decrypt": _each_deployment(check_only_deliverers_decrypt),
}

# breakage -> (the check that must notice, what it says, how to break the template)
BREAKAGES: dict[str, tuple[str, str, Callable[[Document], Any]]] = {
    "an update that may open credentials": (
        "only deliverers decrypt",
        "UpdateCredentialFunction may decrypt credentials",
        lambda d: _statements(d, "UpdateCredentialFunction").append(
            _allow("kms:Decrypt", {"Fn::GetAtt": ["CredentialsKey", "Arn"]})
        ),
    ),
    "a data key for any context": (
        "no wildcards",
        "CredentialsKey",
        lambda d: d["Resources"]["CreateCredentialFunction"]["Properties"]["Policies"][1][
            "Statement"
        ][0].pop("Condition"),
    ),
    "a wildcard action": (
        "no wildcards",
        r"'dynamodb:\*'",
        lambda d: _statements(d, "CreateBindingFunction")[0].update(Action="dynamodb:*"),
    ),
    "a wildcard resource": (
        "no wildcards",
        r"'FetchBindingFunction', '\*'",
        lambda d: _statements(d, "FetchBindingFunction")[0].update(Resource="*"),
    ),
    "every index of a table": (
        "no wildcards",
        r"index/\*",
        lambda d: _statements(d, "ListBindingsFunction").append(
            _allow("dynamodb:Query", {"Fn::Sub": "${BindingsTable.Arn}/index/*"})
        ),
    ),
    "a managed policy": (
        "no wildcards",
        "DeleteBindingFunction",
        lambda d: d["Resources"]["DeleteBindingFunction"]["Properties"]["Policies"].append(
            "AmazonDynamoDBFullAccess"
        ),
    ),
    "queue polling for a function no queue feeds": (
        "no wildcards",
        "CreateServiceFunction",
        lambda d: d["Resources"]["CreateServiceFunction"]["Properties"]["Policies"].append(
            "AWSLambdaSQSQueueExecutionRole"
        ),
    ),
    "fetch may write": (
        "read only",
        "FetchBindingFunction may {'dynamodb:PutItem'}",
        lambda d: _actions(d, "FetchBindingFunction", 0).append("dynamodb:PutItem"),
    ),
    "list may delete": (
        "read only",
        "ListBindingsFunction may {'dynamodb:DeleteItem'}",
        lambda d: _statements(d, "ListBindingsFunction").append(
            _allow("dynamodb:DeleteItem", {"Fn::GetAtt": ["BindingsTable", "Arn"]})
        ),
    ),
    "a permission create lacks": (
        "least privilege",
        r"CreateBindingFunction would be denied {\('dynamodb:DeleteItem', 'BindingIndexTable'\)}",
        lambda d: _statements(d, "CreateBindingFunction")[1]["Action"].remove(
            "dynamodb:DeleteItem"
        ),
    ),
    "a permission delete never uses": (
        "least privilege",
        r"DeleteBindingFunction may {\('dynamodb:GetItem', 'BindingsTable'\)} but never does",
        lambda d: _actions(d, "DeleteBindingFunction", 0).append("dynamodb:GetItem"),
    ),
    "a table list never reads": (
        "least privilege",
        r"ListBindingsFunction may {\('dynamodb:Query', 'BindingsTable'\)} but never does",
        lambda d: _statements(d, "ListBindingsFunction").append(
            _allow("dynamodb:Query", {"Fn::GetAtt": ["BindingsTable", "Arn"]})
        ),
    ),
    "a table action on the queue": (
        "no wildcards",
        r"DeleteServiceFunction may dynamodb:GetItem on .*ServicePurgeQueue.*not one of its",
        lambda d: _statements(d, "DeleteServiceFunction").append(
            _allow("dynamodb:GetItem", {"Fn::GetAtt": ["ServicePurgeQueue", "Arn"]})
        ),
    ),
    "messages to any queue": (
        "no wildcards",
        r"'DeleteServiceFunction', '\*'",
        lambda d: _statements(d, "DeleteServiceFunction")[1].update(Resource="*"),
    ),
    "the authorizer may write": (
        "read only",
        "AuthorizerFunction may {'dynamodb:PutItem'}",
        lambda d: _actions(d, "AuthorizerFunction", 0).append("dynamodb:PutItem"),
    ),
    "list services may update": (
        "read only",
        "ListServicesFunction may {'dynamodb:UpdateItem'}",
        lambda d: _actions(d, "ListServicesFunction", 0).append("dynamodb:UpdateItem"),
    ),
    "a purge that cannot hand on": (
        "least privilege",
        r"PurgeServiceFunction would be denied {\('sqs:SendMessage', 'ServicePurgeQueue'\)}",
        lambda d: _statements(d, "PurgeServiceFunction").pop(),
    ),
    "a message create service never sends": (
        "least privilege",
        r"CreateServiceFunction may {\('sqs:SendMessage', 'ServicePurgeQueue'\)} but never",
        lambda d: _statements(d, "CreateServiceFunction").append(
            _allow("sqs:SendMessage", {"Fn::GetAtt": ["ServicePurgeQueue", "Arn"]})
        ),
    ),
    "a key the tables are not read with": (
        "least privilege",
        r"FetchBindingFunction would be denied {\('kms:Decrypt', 'KmsKeyArn via dynamodb'\)}",
        lambda d: d["Resources"]["FetchBindingFunction"]["Properties"]["Policies"].pop(),
    ),
    "a purge that cannot read its queue with the key": (
        "least privilege",
        r"PurgeServiceFunction would be denied {\('kms:Decrypt', 'KmsKeyArn via sqs'\)}",
        lambda d: _kms_statements(d, "PurgeServiceFunction")[0]["Condition"]["StringEquals"][
            "kms:ViaService"
        ].pop(),
    ),
    "no data key for a failed stream batch's record": (
        "least privilege",
        r"PublishChangesFunction would be denied {\('kms:GenerateDataKey', 'KmsKeyArn via sqs'\)}",
        lambda d: _kms_statements(d, "PublishChangesFunction").pop(),
    ),
    "a data key a reader never makes": (
        "least privilege",
        r"FetchUserFunction may {\('kms:GenerateDataKey', 'KmsKeyArn via dynamodb'\)} but never",
        lambda d: _kms_statements(d, "FetchUserFunction")[0]["Action"].append(
            "kms:GenerateDataKey"
        ),
    ),
    "the key through any service": (
        "least privilege",
        r"CreateBindingFunction may {\('kms:Decrypt', 'KmsKeyArn'\)} but never",
        lambda d: _kms_statements(d, "CreateBindingFunction")[0].pop("Condition"),
    ),
    "the key whether it is given or not": (
        "least privilege",
        r"DeleteUserFunction may {\('kms:Decrypt', 'KmsKeyArn via dynamodb'\)} but never",
        lambda d: _statements(d, "DeleteUserFunction").append(
            _kms_statements(d, "DeleteUserFunction")[0]
        ),
    ),
    "any key": (
        "no wildcards",
        r"a key other than KmsKeyArn",
        lambda d: _kms_statements(d, "FetchUserFunction")[0].update(
            Resource=KMS_KEY_ARN.replace("1234abcd", "5678efab")
        ),
    ),
    "a fetch that may encrypt": (
        "read only",
        r"FetchServiceFunction may {'kms:Encrypt'}",
        lambda d: _kms_statements(d, "FetchServiceFunction")[0]["Action"].append("kms:Encrypt"),
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_given_a_role_broken_in_one_way_when_translated_then_its_check_fails(
    sam_document, translate, calls_by_function, breakage
):
    check, complaint, break_it = BREAKAGES[breakage]
    broken = copy.deepcopy(sam_document)
    break_it(broken)
    translated = translate(broken)

    with pytest.raises(AssertionError, match=complaint):
        CHECKS[check](broken, translated, calls_by_function)
