"""A throwaway SAM app for the local API's tests, written under a temporary directory: an
authorizer that lets only `Authorization: Bearer ok` through, routes that echo what they were
given, a function that puts messages on a queue, one that consumes them (recording every record
and failing some through batchItemFailures), and a fake layer whose AccountStore records the
accounts it is asked to create."""

from __future__ import annotations

import textwrap
from pathlib import Path

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Runtime: python3.13
    Handler: app.handler
    Layers:
      - !Ref FakeLayer
    Environment:
      Variables:
        ACCOUNTS_TABLE: !Ref AccountsTable
        WORK_QUEUE_URL: !Ref WorkQueue
        DEAD_LETTER_QUEUE_URL: !Ref WorkDeadLetterQueue
        DEAD_LETTER_QUEUE_ARN: !GetAtt WorkDeadLetterQueue.Arn
        GREETING: !Ref Greeting
        RECORDS_DIR: nowhere
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: BearerOk
        Authorizers:
          BearerOk:
            FunctionArn: !GetAtt AuthorizerFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
  FakeLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
  AuthorizerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: authorizer/
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Events:
        Echo:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: "/echo/{Name}"}
  PublicFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Events:
        Public:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /public, Auth: {Authorizer: NONE}}
  DefaultFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Events:
        Default:
          Type: HttpApi
          Properties: {ApiId: !Ref Api}
  EnqueueFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: enqueue/
      Events:
        Enqueue:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: POST, Path: /enqueue}
  ConsumerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: consumer/
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn
        maxReceiveCount: 2
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  AccountsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: Sid, AttributeType: S}
      KeySchema:
        - {AttributeName: Sid, KeyType: HASH}
"""

FILES = {
    "authorizer/app.py": """
        def handler(event, context):
            if event["headers"].get("authorization") != "Bearer ok":
                return {"isAuthorized": False}
            return {"isAuthorized": True, "context": {"user": "ok", "routeKey": event["routeKey"]}}
    """,
    "echo/app.py": """
        import json
        import os

        SHOWN = [
            "GREETING", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_PROFILE", "SQS_ENDPOINT_URL", "DYNAMODB_ENDPOINT_URL",
            "WORK_QUEUE_URL", "DEAD_LETTER_QUEUE_URL", "DEAD_LETTER_QUEUE_ARN", "ACCOUNTS_TABLE",
        ]

        def handler(event, context):
            body = {
                "routeKey": event["routeKey"],
                "authorizer": event["requestContext"].get("authorizer"),
                "environment": {name: os.environ.get(name) for name in SHOWN},
            }
            return {"statusCode": 200, "body": json.dumps(body)}
    """,
    "enqueue/app.py": """
        import json
        import os

        import boto3

        def handler(event, context):
            sqs = boto3.client("sqs", endpoint_url=os.environ["SQS_ENDPOINT_URL"] or None)
            entries = [
                {"Id": str(number), **message}
                for number, message in enumerate(json.loads(event["body"]))
            ]
            sqs.send_message_batch(QueueUrl=os.environ["WORK_QUEUE_URL"], Entries=entries)
            return {"statusCode": 202, "body": ""}
    """,
    "consumer/app.py": """
        import json
        import os
        from pathlib import Path

        def handler(event, context):
            failures = []
            with (Path(os.environ["RECORDS_DIR"]) / "records.jsonl").open("a") as records:
                for record in event["Records"]:
                    records.write(json.dumps(record) + "\\n")
                    count = record["attributes"]["ApproximateReceiveCount"]
                    if record["body"] == "always-fail" or (
                        record["body"] == "fail-once" and count == "1"
                    ):
                        failures.append({"itemIdentifier": record["messageId"]})
            return {"batchItemFailures": failures}
    """,
    "layer/notify_bindings/__init__.py": "",
    "layer/notify_bindings/dal/__init__.py": "",
    "layer/notify_bindings/dal/accounts.py": """
        import secrets

        class Account:
            def __init__(self, sid):
                self.sid = sid

        class AccountStore:
            def __init__(self, client, table):
                self.client = client
                self.table = table

            def create_account(self, friendly_name="", *, account_sid=None, auth_token=None):
                sid = account_sid or "AC" + secrets.token_hex(16)
                token = auth_token or secrets.token_hex(16)
                item = {"Sid": {"S": sid}, "Token": {"S": token}, "Name": {"S": friendly_name}}
                self.client.put_item(TableName=self.table, Item=item)
                return Account(sid), token
    """,
}


def write_sample_app(root: Path) -> Path:
    """Write the app under `root`; returns the path of its template."""
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    template = root / "template.yaml"
    template.write_text(TEMPLATE)
    return template
