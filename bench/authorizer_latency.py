"""What the authorizer adds to a request, measured locally.

The template's functions run in this process against an embedded moto server, as under
`make run`. For each case a warm function is invoked many times and the median reported:
the authorizer with its credential cache (the common case: a warm authorizer that has seen
these credentials), the authorizer checking DynamoDB every time (AUTH_CACHE_SECONDS=0, or the
first request of each credential), and, for scale, the fetch-binding handler it sits in front
of. In AWS, API Gateway's call to the authorizer function adds its own hop on top.

Run: .venv/bin/python -m bench.authorizer_latency [--requests 300]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.local_functions import start_functions
from local_api.events import (
    LambdaContext,
    authorizer_event,
    http_api_event,
    with_authorizer_context,
)
from local_api.runtime import (
    embedded_dynamodb,
    keep_aws_local,
    put_layers_on_path,
)
from local_api.template import SamTemplate


def median_ms(call: Callable[[], Any], requests: int) -> float:
    call()  # warm: imports, clients, the cache when there is one
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    keep_aws_local()
    template = SamTemplate.load()
    put_layers_on_path(template)
    with embedded_dynamodb() as endpoint:
        local = start_functions(template, endpoint)
        functions, tables = local.functions, local.tables
        from notify_bindings import dependencies
        from notify_bindings.dal.accounts import AccountStore
        from notify_bindings.domain.services import Service
        from notify_bindings.platform.sids import time_ordered_sid

        account, token = AccountStore(
            dependencies.dynamodb(), tables["AccountsTable"]
        ).create_account("bench")
        now = dependencies.now()
        service = Service(time_ordered_sid("IS", now), account.sid, now, now)
        dependencies.service_store().create(service)

        routes = {route.route_key: route for route in template.routes}
        credentials = base64.b64encode(f"{account.sid}:{token}".encode()).decode()
        path = f"/v1/Services/{service.sid}/Bindings"
        create = with_authorizer_context(
            http_api_event(
                routes["POST /v1/Services/{ServiceSid}/Bindings"],
                path,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                body=b"Identity=bench&BindingType=apn&Address=token",
            ),
            {"accountSid": account.sid},
        )
        sid = json.loads(functions.invoke("CreateBindingFunction", create)["body"])["sid"]
        fetch = with_authorizer_context(
            http_api_event(routes["GET /v1/Services/{ServiceSid}/Bindings/{Sid}"], f"{path}/{sid}"),
            {"accountSid": account.sid},
        )
        request = http_api_event(
            routes["GET /v1/Services/{ServiceSid}/Bindings/{Sid}"],
            f"{path}/{sid}",
            headers={"Authorization": f"Basic {credentials}"},
        )
        function = functions.functions["AuthorizerFunction"]
        authorizer = function.load_handler()
        check = authorizer_event(request)

        def authorize() -> Any:
            context = LambdaContext(function.logical_id, timeout_seconds=function.timeout)
            answer = authorizer(check, context)
            assert answer["context"].get("accountSid") == account.sid
            return answer

        results = {}
        for label, ttl in (
            ("authorizer, credentials cached", "60"),
            ("authorizer, DynamoDB check", "0"),
        ):
            os.environ["AUTH_CACHE_SECONDS"] = ttl
            dependencies.reset()
            results[label] = median_ms(authorize, args.requests)
        results["fetch handler it guards"] = median_ms(
            lambda: functions.invoke("FetchBindingFunction", fetch), args.requests
        )
    print(f"median of {args.requests} warm invocations, local moto DynamoDB")
    for label, value in results.items():
        print(f"  {label:<34} {value:7.2f} ms")


if __name__ == "__main__":
    main()
