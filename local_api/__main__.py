"""`python -m local_api`: serve every route of template.yaml on http://127.0.0.1:$PORT.

DynamoDB is an embedded moto server holding the template's tables, unless
DYNAMODB_ENDPOINT_URL names another DynamoDB-compatible endpoint (DynamoDB Local, say).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import ExitStack, suppress
from pathlib import Path

from local_api.runtime import (
    LocalFunctions,
    create_tables,
    dynamodb_client,
    embedded_dynamodb,
)
from local_api.server import LocalApiServer
from local_api.template import TEMPLATE_PATH, SamTemplate

EXAMPLE_SERVICE = "IS" + "0" * 31 + "1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "3000")), help="0 picks a free port"
    )
    parser.add_argument("--template", default=str(TEMPLATE_PATH))
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )

    template = SamTemplate.load(Path(args.template))
    with ExitStack() as stack:
        endpoint = os.environ.get("DYNAMODB_ENDPOINT_URL") or stack.enter_context(
            embedded_dynamodb()
        )
        tables = create_tables(dynamodb_client(endpoint), template)
        functions = LocalFunctions.start(template, endpoint, tables)
        server = LocalApiServer((args.host, args.port), functions)
        stack.callback(server.server_close)
        base = server.base_url
        print(f"notify-bindings local API on {base} (DynamoDB at {endpoint})", flush=True)
        print(
            f"try: curl -X POST {base}/v1/Services/{EXAMPLE_SERVICE}/Bindings "
            "-d Identity=alice -d BindingType=sms --data-urlencode Address=+15551234567",
            flush=True,
        )
        with suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
