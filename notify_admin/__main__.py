"""notify-admin: the accounts and API keys of a notify-bindings deployment.

A client proves its account with HTTP Basic: the Account SID and its auth token, or an API key
SID and its secret. Tokens and secrets are shown once, when they are made: only salted hashes
of them are stored, and, for auth tokens, a copy sealed with the stack's credentials key (its
CredentialsKeyArn output, or --credentials-key) that signs the account's delivery callbacks.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from notify_bindings.dal.accounts import (
    API_KEY_SID_PATTERN,
    Account,
    AccountNotFound,
    AccountStore,
    ApiKey,
)
from notify_bindings.platform.errors import ApiError
from notify_bindings.platform.sids import ACCOUNT_SID_PATTERN
from notify_cli.output import Output

PROG = "notify-admin"
LOCAL_TABLE = "AccountsTable"  # the local API names its tables by logical id
STACK_OUTPUT = "AccountsTableName"
KEY_OUTPUT = "CredentialsKeyArn"

OK, NOT_FOUND, USAGE, FAILED = 0, 1, 2, 3

EXIT_CODES = """\
exit status:
  0  done
  1  not found: no such account, key, table or stack
  2  usage: a malformed argument or SID, or no target
  3  failed: DynamoDB or CloudFormation refused or could not be reached
"""

SHOWN_ONCE = "Keep the {what} now: only a hash of it is stored, it cannot be shown again."
CACHE_NOTE = (
    "Warm authorizers that accepted {what} in the last AuthCacheSeconds (60 by default) "
    "may still accept it until those seconds have passed."
)


class NotFound(Exception):
    """What the command names does not exist."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not (args.endpoint_url or args.stack or args.table):
        parser.error("name a target: --endpoint-url, --stack or --table")
    if args.stack and (args.table or args.endpoint_url):
        parser.error("--stack names the table itself: give it without --table or --endpoint-url")
    output = Output(args.json)
    try:
        args.command(_store(args), args, output)
    except (NotFound, AccountNotFound) as error:
        output.note(f"{PROG}: {error}")
        return NOT_FOUND
    except ValueError as error:  # a friendly name the store refuses
        output.note(f"{PROG}: {error}")
        return USAGE
    except ApiError as error:  # DynamoDB throttled or unavailable, after retries
        output.note(f"{PROG}: {error.message}")
        return FAILED
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            output.note(f"{PROG}: no table {args.table or args.stack or ''} there ({code})")
            return NOT_FOUND
        output.note(f"{PROG}: {error}")
        return FAILED
    except BotoCoreError as error:  # no credentials, no region, an unreachable endpoint
        output.note(f"{PROG}: {error}")
        return FAILED
    return OK


# -- commands ----------------------------------------------------------------------------


def create_account(store: AccountStore, args: argparse.Namespace, output: Output) -> None:
    account, token = store.create_account(args.friendly_name)
    output.result(
        {**_account_json(account), "auth_token": token},
        f"Account SID  {account.sid}\nAuth token   {token}",
    )
    output.note(SHOWN_ONCE.format(what="auth token"))
    _note_unsealed(args, output)


def _note_unsealed(args: argparse.Namespace, output: Output) -> None:
    if not getattr(args, "sealed", False):
        output.note(
            "Not sealed (no credentials key): this account's delivery callbacks are not signed "
            "until its token is rotated with the key (--stack, or --credentials-key)."
        )


def list_accounts(store: AccountStore, args: argparse.Namespace, output: Output) -> None:
    accounts = store.list_accounts()
    rows = [(a.sid, _date(a.date_created), a.friendly_name) for a in accounts]
    output.result([_account_json(a) for a in accounts], _table(("SID", "CREATED", "NAME"), rows))
    if not accounts:
        output.note("No accounts yet: `accounts create` makes one.")


def rotate_token(store: AccountStore, args: argparse.Namespace, output: Output) -> None:
    token = store.rotate_auth_token(args.account_sid)
    output.result(
        {"sid": args.account_sid, "auth_token": token},
        f"Account SID  {args.account_sid}\nAuth token   {token}",
    )
    output.note("The previous auth token is refused from now on. " + CACHE_NOTE.format(what="it"))
    output.note(SHOWN_ONCE.format(what="auth token"))
    _note_unsealed(args, output)


def create_key(store: AccountStore, args: argparse.Namespace, output: Output) -> None:
    key, secret = store.create_api_key(args.account_sid, args.friendly_name)
    output.result(
        {**_key_json(key), "secret": secret},
        f"API key SID  {key.sid}\nSecret       {secret}\nAccount SID  {key.account_sid}",
    )
    output.note(SHOWN_ONCE.format(what="secret"))


def list_keys(store: AccountStore, args: argparse.Namespace, output: Output) -> None:
    if store.get_account(args.account_sid) is None:
        raise AccountNotFound(args.account_sid)
    keys = store.list_api_keys(args.account_sid)
    rows = [(k.sid, _date(k.date_created), k.friendly_name) for k in keys]
    output.result([_key_json(k) for k in keys], _table(("SID", "CREATED", "NAME"), rows))
    if not keys:
        output.note(f"{args.account_sid} has no API keys.")


def revoke_key(store: AccountStore, args: argparse.Namespace, output: Output) -> None:
    if not store.revoke_api_key(args.key_sid):
        raise NotFound(f"No API key {args.key_sid}")
    output.result({"sid": args.key_sid, "revoked": True}, f"Revoked {args.key_sid}")
    output.note(CACHE_NOTE.format(what="its secret"))


# -- arguments ---------------------------------------------------------------------------

Command = Callable[[AccountStore, argparse.Namespace, Output], None]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(parser, defaults=True)
    groups = parser.add_subparsers(title="commands", metavar="{accounts,keys}", required=True)

    accounts = _group(groups, "accounts", "create, list accounts; rotate an auth token")
    _command(
        accounts,
        "create",
        create_account,
        "create an account; prints its SID and auth token, once",
        _friendly_name,
    )
    _command(accounts, "list", list_accounts, "list every account")
    _command(
        accounts,
        "rotate-token",
        rotate_token,
        "give an account a new auth token; the old one stops working",
        _account_sid,
    )

    keys = _group(groups, "keys", "create, list, revoke an account's API keys")
    _command(
        keys,
        "create",
        create_key,
        "create an API key of an account; prints its SID and secret, once",
        _account_sid,
        _friendly_name,
    )
    _command(keys, "list", list_keys, "list an account's API keys", _account_sid)
    _command(
        keys,
        "revoke",
        revoke_key,
        "revoke an API key; its secret stops working",
        lambda p: p.add_argument(
            "key_sid", type=_sid(API_KEY_SID_PATTERN, "an API key SID"), help="SK…"
        ),
    )
    return parser


def _common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The target and output options, accepted before or after the command.

    After the command they have no defaults, so that they do not hide values given before it.
    """

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    target = parser.add_argument_group("target (one is required)")
    target.add_argument(
        "--endpoint-url",
        metavar="URL",
        default=default(None),
        help="a DynamoDB-compatible endpoint, such as the one `make run` prints as "
        f"'DynamoDB at http://127.0.0.1:PORT' (the table is then {LOCAL_TABLE} by default)",
    )
    target.add_argument(
        "--stack",
        metavar="NAME",
        default=default(None),
        help=f"a deployed stack, whose {STACK_OUTPUT} output names the table",
    )
    target.add_argument("--table", metavar="NAME", default=default(None), help="the table")
    target.add_argument(
        "--region", default=default(None), help="the AWS region of --stack or --table"
    )
    target.add_argument(
        "--credentials-key",
        metavar="ARN",
        default=default(None),
        help=f"with --table: the KMS key that seals auth tokens (--stack: its {KEY_OUTPUT})",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print results as JSON"
    )


def _group(groups: Any, name: str, summary: str) -> Any:
    parser = groups.add_parser(name, help=summary, description=summary, epilog=EXIT_CODES)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser.add_subparsers(title="commands", required=True)


def _command(
    commands: Any,
    name: str,
    run: Command,
    summary: str,
    *arguments: Callable[[argparse.ArgumentParser], Any],
) -> None:
    parser = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for add in arguments:
        add(parser)
    _common_options(parser, defaults=False)
    parser.set_defaults(command=run)


def _account_sid(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account_sid", type=_sid(ACCOUNT_SID_PATTERN, "an Account SID"), help="AC…")


def _friendly_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--friendly-name", default="", metavar="NAME", help="at most 64 chars")


def _sid(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def parse(value: str) -> str:
        if not compiled.fullmatch(value):
            raise argparse.ArgumentTypeError(
                f"{value!r} is not {what} ({pattern[1:3]} and 32 lowercase hex digits)"
            )
        return value

    return parse


# -- the table ---------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> AccountStore:
    import boto3

    args.sealed = False
    if args.endpoint_url:
        # A local endpoint takes any credentials; these keep boto3 from looking for real ones.
        # `make run` seals the tokens of the accounts it seeds; these are not sealed.
        from local_api.runtime import dynamodb_client

        return AccountStore(dynamodb_client(args.endpoint_url), args.table or LOCAL_TABLE)
    if args.stack:
        outputs = _stack_outputs(args.stack, args.region)
        table, key = outputs[STACK_OUTPUT], outputs.get(KEY_OUTPUT)
    else:
        table, key = args.table, args.credentials_key
    client = boto3.client("dynamodb", region_name=args.region)
    if not key:
        return AccountStore(client, table)
    from notify_bindings.dal.sealing import Sealer

    args.sealed = True
    sealer = Sealer(boto3.client("kms", region_name=args.region), key)
    return AccountStore(client, table, sealer=sealer)


def _stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=region)
    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            raise NotFound(f"No stack {stack}") from None  # CloudFormation's "does not exist"
        raise
    outputs: dict[str, str] = {
        output["OutputKey"]: output["OutputValue"] for output in found.get("Outputs", [])
    }
    if STACK_OUTPUT not in outputs:
        raise NotFound(f"Stack {stack} has no {STACK_OUTPUT} output")
    return outputs


# -- formatting --------------------------------------------------------------------------


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _account_json(account: Account) -> dict[str, str]:
    return {
        "sid": account.sid,
        "friendly_name": account.friendly_name,
        "date_created": _date(account.date_created),
    }


def _key_json(key: ApiKey) -> dict[str, str]:
    return {
        "sid": key.sid,
        "account_sid": key.account_sid,
        "friendly_name": key.friendly_name,
        "date_created": _date(key.date_created),
    }


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


if __name__ == "__main__":
    sys.exit(main())
