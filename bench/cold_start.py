"""Cold start of every function of template.yaml against the floor: boto3 and a DynamoDB client.

For each function the template declares, a fresh interpreter (a child process of the Python
this runs on) starts with the template's layers on its path (PYTHONPATH, as Lambda puts them
on sys.path), the function's CodeUri as its working directory, the template's environment
(Globals and the function's own, tables named after their logical ids) and fake local
credentials, then:

- function: imports the handler module as Lambda does (`import app`), reads the settings,
  creates the AWS clients its first request creates (`dependencies.dynamodb()` when its
  policies allow a `dynamodb:` action, `dependencies.sqs()` when they allow an `sqs:` one,
  `dependencies.secretsmanager()` and the module that reads the page-token secret when they
  allow `secretsmanager:` - the read itself, one request, is not made) and
  builds every other dependency that its code asks `dependencies` for (`binding_store()`, ...)
  - modules a first request imports only when it builds them are counted too. A delivering
  function (APNS_ENDPOINT in its environment) also does its first batch's first send: an APNs
  token credential opened, its provider token signed, an HTTP/2 connection made over TLS to the
  APNs stand-in (started here, on loopback) and one notification sent and accepted;
- baseline: `import boto3; boto3.client("dynamodb")`, in the same environment.

The target (issue 18): every function's first request within 1.45x of the baseline in
instructions, as valgrind's callgrind counts them (the whole process, interpreter start-up
included on both sides): the same on every run, whatever else the machine does. Each count is
split: the child imports the modules its first request loads group by group (standard library,
botocore, pydantic, Powertools, httpx/h2, cryptography, jwt, other libraries), then ours with the
handler, then makes the first request, and callgrind writes what it counted at each step; a
function above the target names the parts that run the most instructions more than the
baseline's. Without valgrind (or with --no-instructions) the rows say the target was not judged.

Wall and CPU time are reported beside them: each child times itself with time.perf_counter()
from the first line of its code to the last (and reports its CPU time), so that the
interpreter's own start-up - reported apart, as the whole-process wall time less that, and as
a bare `python -c pass` - does not dilute the comparison; a child ends with os._exit, as
Lambda never tears an interpreter down on a cold start. Every round runs a baseline before
every two functions (in reverse order every other round); each function's median is compared
with the median of all baselines. No request is sent to AWS (clients connect on first use).

SnapStart: a row per Python estimates what a restore would skip (init: the start-up and the
handler's import) and what is left (the first request), from the figures above; the restore's
own time cannot be measured without AWS.

Where the milliseconds go, two ways:
- a ladder of fresh interpreters, each doing a little more, measured in the same rounds: the
  baseline; our settings and DynamoDB client (`dependencies`: botocore's, not boto3's);
  + pydantic and one model; + Powertools' Logger and Metrics; the whole CreateBindingFunction.
  Each rung's increment is what that part costs once the previous ones are loaded (so shared
  modules count once);
- `python -X importtime` of CreateBindingFunction: the modules with the most self and
  cumulative time, and self time grouped into botocore (with urllib3, jmespath, dateutil),
  pydantic, Powertools, our layer and handler, and the standard library (a shared standard
  module counts for whoever imports it first).

As deployed: byte-code caches are warm on both sides above, as they are for a layer built by
layers/notify_bindings/Makefile (what `sam build` runs), which ships every module compiled.
A layer shipped without byte-code (as BuildMethod python3.13 builds it) is compiled at every
cold start, since /opt is read-only on Lambda. Both are measured for CreateBindingFunction: the
layer is built here by its Makefile (this machine's wheels), a copy of it is stripped of its
__pycache__ directories, and each is loaded alone (PYTHONPATH, PYTHONDONTWRITEBYTECODE=1) next
to a baseline that imports boto3 from the compiled layer.

The Lambda runtime is python3.13. When a python3.13 is found (`pyenv which python3.13`, pyenv's
3.13, or on PATH), the comparison runs on it too, with the layer's dependencies from its
site-packages, from --lambda-deps DIR, or else from a layer the Makefile builds for it here.

Run: .venv/bin/python -m bench.cold_start [--runs 11] [--function CreateBindingFunction ...]
     [--lambda-deps DIR] [--no-layer-build] [--no-instructions]
Writes bench/results/cold_start.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.layer_build import LayerBuildFailed, build_layer, without_bytecode
from local_api.delivery_standins import (
    APNS_KEY_ID,
    APNS_TEAM_ID,
    APNS_TOPIC,
    DeliveryStandIns,
    delivery_standins,
)
from local_api.runtime import LOCAL_CREDENTIALS, LocalQueue, keep_aws_local, queue_references
from local_api.template import PROJECT_ROOT, Function, SamTemplate, resolve_environment

RESULTS = Path(__file__).resolve().parent / "results" / "cold_start.json"
TARGET_RATIO = 1.45  # in instructions (issue 18): wall and CPU time are reported beside them
BREAKDOWN_FUNCTION = "CreateBindingFunction"
LAMBDA_VERSION = "3.13"

# A child prints the milliseconds of its first part and of its second part, timed from its
# first line, and the CPU milliseconds of both.
_TIMED = """\
import time
_start, _start_cpu = time.perf_counter(), time.process_time()
{first}
_middle = time.perf_counter()
{second}
_end, _end_cpu = time.perf_counter(), time.process_time()
print((_middle - _start) * 1000, (_end - _middle) * 1000, (_end_cpu - _start_cpu) * 1000)
import os, sys
sys.stdout.flush()
os._exit(0)  # Lambda never tears its interpreter down on a cold start: neither does this
"""
BASELINE = ("import boto3", 'boto3.client("dynamodb")')
BASELINE_LABEL = "baseline: import boto3; boto3.client('dynamodb')"
BARE_LABEL = "bare interpreter"
LADDER = (
    "our settings and botocore client: dependencies.dynamodb()",
    "+ pydantic and one model",
    "+ Powertools Logger and Metrics",
)
_DEPENDENCIES = "from notify_bindings import dependencies"
_CLIENT = "dependencies.settings()\ndependencies.dynamodb()"
_PYDANTIC_MODEL = "from pydantic import BaseModel\nclass Model(BaseModel):\n    name: str"
_POWERTOOLS = "from aws_lambda_powertools import Logger, Metrics\nLogger()\nMetrics()"
# Variables of the bench's own shell that would change what a child imports or where it runs.
_DROPPED = ("PYTHON", "DYNAMODB_ENDPOINT_URL", "SQS_ENDPOINT_URL", "POWERTOOLS_")
# Top-level modules by group, for the -X importtime breakdown.
_AWS_SDK = {"boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six"}
_PYDANTIC = {"pydantic", "pydantic_core", "annotated_types", "typing_extensions"}
_HTTP = {"httpx", "httpcore", "h2", "hpack", "hyperframe", "h11", "anyio", "sniffio", "idna"}
_CRYPTOGRAPHY = {"cryptography", "cffi", "_cffi_backend"}
# The groups a function's instructions are split into (imported in this order, each module
# of the group that the first request loads, then the handler and the request itself).
START_UP = "interpreter start-up"
IMPORT_GROUPS = (
    "standard library",
    "botocore",
    "pydantic",
    "Powertools",
    "httpx/h2",
    "cryptography",
    "jwt",
    "other libraries",
    "ours",
)
FIRST_REQUEST = "first request"
# A function whose environment names the APNs host delivers notifications: its first request
# includes its first batch's first send, to the APNs stand-in.
DELIVERY_SETTING = "APNS_ENDPOINT"


@dataclass
class Samples:
    """Milliseconds of each run: the two timed parts inside the child, its CPU time, and the
    whole process (start-up and exit included) as this process saw it."""

    first: list[float] = field(default_factory=list)
    second: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    @property
    def inside(self) -> list[float]:
        return [a + b for a, b in zip(self.first, self.second, strict=True)]

    def medians(self) -> dict[str, float]:
        outside = [w - i for w, i in zip(self.wall, self.inside, strict=True)]
        return {
            "inside_ms": statistics.median(self.inside),
            "first_part_ms": statistics.median(self.first),
            "second_part_ms": statistics.median(self.second),
            "cpu_ms": statistics.median(self.cpu),
            "process_wall_ms": statistics.median(self.wall),
            "outside_ms": statistics.median(outside),
        }


@dataclass(frozen=True)
class Child:
    """One way to start a fresh interpreter: which Python, where, with what environment."""

    python: str
    cwd: Path
    environment: Mapping[str, str]

    def run(
        self, code: str, *flags: str, under: Sequence[str] = (), timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Runs `code` in a fresh interpreter (`under` a tool such as valgrind, if given)."""
        return subprocess.run(
            [*under, self.python, *flags, "-c", code],
            cwd=self.cwd,
            env=dict(self.environment),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def timed(self, code: tuple[str, str], into: Samples) -> None:
        first, second = code
        start = time.perf_counter()
        finished = self.run(_TIMED.format(first=first, second=second))
        wall = (time.perf_counter() - start) * 1000
        if finished.returncode != 0:
            raise RuntimeError(f"child failed in {self.cwd}:\n{finished.stderr}")
        first_ms, second_ms, cpu_ms = map(float, finished.stdout.split()[-3:])
        into.first.append(first_ms)
        into.second.append(second_ms)
        into.cpu.append(cpu_ms)
        into.wall.append(wall)


def client_factories(function: Function) -> list[str]:
    """The clients a function's first request creates, from the services its policies allow."""
    actions = _actions(function.policies)
    return [
        service
        for service in ("dynamodb", "sqs", "secretsmanager")
        if any(action.startswith(f"{service}:") for action in actions)
    ]


def _actions(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        found: list[str] = []
        for key, item in value.items():
            if key == "Action":
                found.extend([item] if isinstance(item, str) else item)
            else:
                found.extend(_actions(item))
        return found
    if isinstance(value, list | tuple):
        return [action for item in value for action in _actions(item)]
    return []


@dataclass(frozen=True)
class FirstRequest:
    """What Lambda's first invocation of a function loads: the handler module (its init), the
    settings, the clients its policies allow, and the other dependencies its code builds."""

    handler: str
    clients: tuple[str, ...]
    builders: tuple[str, ...]
    first_send: str = ""

    @property
    def code(self) -> tuple[str, str]:
        module, attribute = self.handler.rsplit(".", 1)
        imports = f"import {module}\n{module}.{attribute}\nfrom notify_bindings import dependencies"
        if "secretsmanager" in self.clients:  # what reads the page-token secret, short of reading
            imports += "\nimport notify_bindings.dal.secrets"
        calls = ["settings", *self.clients, *self.builders]
        request = "\n".join(f"dependencies.{call}()" for call in calls)
        return imports, f"{request}\n{self.first_send}" if self.first_send else request

    def describe(self) -> str:
        calls = ", ".join(f"{call}()" for call in ("settings", *self.clients, *self.builders))
        return f"{calls} and a first APNs send" if self.first_send else calls


# A delivering function's first batch, as far as it goes before its second send: the APNs
# token credential opened (the store's parsing, after KMS would have decrypted it), its
# provider token signed, the HTTP/2 client made and connected over TLS to the APNs stand-in,
# and one notification sent and accepted. The batch's DynamoDB and KMS requests are not made
# (no other function's figure includes a request either).
_FIRST_SEND = """\
from datetime import UTC, datetime
from notify_bindings.dal.credential_material import read_material
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.credentials import CredentialMaterial, CredentialType
from notify_bindings.domain.notifications import DeliveryStatus, Notification, Recipient
from notify_bindings.domain.services import Service
_now = datetime.now(UTC)
with open({key_file!r}) as _key:
    _material = CredentialMaterial(
        private_key=_key.read(), apn_key_id={key_id!r}, apn_team_id={team_id!r}, apn_topic={topic!r}
    )
dependencies.credential_source()  # the store that opens it, with the credentials key
_credential = read_material(CredentialType.APN, _material, None, trusted=True)
_service = Service(sid="IS" + "0" * 32, account_sid="AC" + "0" * 32, date_created=_now,
                   date_updated=_now)
_notification = Notification(sid="NT" + "0" * 32, account_sid=_service.account_sid,
                             service_sid=_service.sid, date_created=_now, title="Cold",
                             body="A first notification")
_recipient = Recipient(BindingType.APN, "c0ffee" * 10 + "0000", binding_sid="BS" + "0" * 32)
_delivery = dependencies.sender().send(_notification, _service, _recipient, _credential)
assert _delivery.status is DeliveryStatus.SENT, _delivery
"""


def delivers(function: Function) -> bool:
    return DELIVERY_SETTING in function.environment


# Prints the dependencies (other than settings and clients) that the code loaded with the
# handler asks for - `dependencies.<name>` in its byte-code, or a builder imported by name: their
# modules may be imported only when they are first built. (Any other attribute of that name,
# such as a botocore client's `meta.events`, is not a request for the builder.)
_REFERENCED = """
import dis, json, sys, types
import {module}
from notify_bindings import dependencies

# page_token_secret reads from Secrets Manager (a request: the child sends none); its client and
# module are loaded as the clients are.
skipped = {{"settings", "aws_session", "dynamodb", "sqs", "secretsmanager", "page_token_secret"}}
builders = {{
    name: value for name, value in vars(dependencies).items()
    if hasattr(value, "cache_clear") and name not in skipped
}}
seen = set()

def asked(code):
    found, previous = set(), None
    for instruction in dis.get_instructions(code):
        if (
            previous is not None
            and previous.opname.startswith("LOAD_")
            and previous.argval == "dependencies"
            and instruction.opname in ("LOAD_ATTR", "LOAD_METHOD")
        ):
            found.add(instruction.argval)
        previous = instruction
    return found

def names(value):
    if id(value) in seen:
        return set()
    seen.add(id(value))
    if isinstance(value, types.CodeType):
        return asked(value).union(*(names(const) for const in value.co_consts))
    found = set()
    for inner in ("__code__", "__wrapped__", "__func__", "fget"):
        if hasattr(value, inner):
            found |= names(getattr(value, inner))
    if isinstance(value, type):
        for member in list(vars(value).values()):  # a deferred pydantic model builds as read
            found |= names(member)
    return found

referenced = set()
for name, module in list(sys.modules.items()):
    if name == "{module}" or (
        name.startswith("notify_bindings.") and name != "notify_bindings.dependencies"
    ):
        for value in vars(module).values():
            if getattr(value, "__module__", None) == name:
                referenced |= names(value)
            referenced |= {{b for b, builder in builders.items() if value is builder}}
print(json.dumps([builder for builder in builders if builder in referenced]))
"""


def first_request(
    function: Function, child: Child, standins: DeliveryStandIns | None = None
) -> FirstRequest:
    """The function's first request, its builders found by loading its handler once; for a
    delivering function, with its first send to the APNs stand-in (`standins`)."""
    module = function.handler.rsplit(".", 1)[0]
    finished = child.run(_REFERENCED.format(module=module))
    if finished.returncode != 0:
        raise RuntimeError(f"{function.logical_id} does not load:\n{finished.stderr}")
    builders = json.loads(finished.stdout.splitlines()[-1])
    first_send = ""
    if delivers(function):
        if standins is None:
            raise RuntimeError(f"{function.logical_id} delivers: its first send needs stand-ins")
        first_send = _FIRST_SEND.format(
            key_file=str(standins.apns_key_file),
            key_id=APNS_KEY_ID,
            team_id=APNS_TEAM_ID,
            topic=APNS_TOPIC,
        )
    return FirstRequest(
        function.handler, tuple(client_factories(function)), tuple(builders), first_send
    )


def child_environment(
    template: SamTemplate,
    function: Function,
    extra_path: Sequence[str] = (),
    standins: DeliveryStandIns | None = None,
) -> dict[str, str]:
    """This process's environment, local credentials, the function's resolved environment and
    its layers on PYTHONPATH; no endpoint URL (as in AWS: clients are only created here), but
    for a delivering function the providers' hosts are the stand-ins (`standins`)."""
    region = LOCAL_CREDENTIALS["AWS_REGION"]
    queues = {
        name: LocalQueue(
            name,
            f"https://sqs.{region}.amazonaws.com/000000000000/{name}",
            f"arn:aws:sqs:{region}:000000000000:{name}",
        )
        for name in template.queues
    }
    references = {
        **{name: str(value) for name, value in template.parameters.items()},
        **{name: name for name in template.tables},
        **queue_references(queues),
        **{name: name for name in template.of_type("AWS::Events::EventBus")},
        **{
            name: f"arn:aws:secretsmanager:{region}:000000000000:secret:{name}-AbCdEf"
            for name in template.of_type("AWS::SecretsManager::Secret")
        },
        **{
            f"{name}.Arn": f"arn:aws:events:{region}:000000000000:event-bus/{name}"
            for name in template.of_type("AWS::Events::EventBus")
        },
        # The KMS keys: an ARN is all a function's environment holds of one.
        **{
            f"{name}.Arn": f"arn:aws:kms:{region}:000000000000:key/{name}"
            for name in template.of_type("AWS::KMS::Key")
        },
    }
    overrides: dict[str, str] = {}
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(_DROPPED)
    }
    environment.update(resolve_environment(function.environment, references, overrides))
    environment.update(LOCAL_CREDENTIALS)
    if standins is not None and delivers(function):
        environment.update(standins.settings())
    environment["PYTHONPATH"] = os.pathsep.join(
        [*(str(layer) for layer in function.layer_dirs), *extra_path]
    )
    return environment


def lambda_python() -> tuple[str | None, str]:
    """A Python of the Lambda runtime's version, or None and why there is none."""
    candidates = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        for command, env in (
            ([pyenv, "which", f"python{LAMBDA_VERSION}"], None),
            ([pyenv, "prefix"], {**os.environ, "PYENV_VERSION": LAMBDA_VERSION}),
        ):
            found = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
            path = found.stdout.strip().split(":")[0]
            if found.returncode == 0 and path:
                candidates.append(path if command[1] == "which" else f"{path}/bin/python3")
    on_path = shutil.which(f"python{LAMBDA_VERSION}")
    if on_path:
        candidates.append(on_path)
    for python in dict.fromkeys(candidates):
        try:
            version = subprocess.run(
                [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:
            continue
        if version.returncode == 0 and version.stdout.strip() == LAMBDA_VERSION:
            return python, f"Python {LAMBDA_VERSION} found ({shown(python)})"
    return None, f"no python{LAMBDA_VERSION} found (pyenv, PATH); figures are for the bench's only"


def imports_layer_dependencies(child: Child) -> bool:
    return child.run("import boto3, pydantic, aws_lambda_powertools").returncode == 0


def shown(path: str | Path) -> str:
    """`path` as the report shows it: relative to the project, or by its name alone."""
    path = Path(path)
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return path.name


@dataclass(frozen=True)
class Job:
    """One timed run of every round: samples under `label`, of `code` in `child`."""

    label: str
    child: Child
    code: tuple[str, str]


def function_jobs(
    python: str,
    template: SamTemplate,
    functions: Sequence[Function],
    extra_path: Sequence[str],
    standins: DeliveryStandIns,
) -> tuple[list[Job], dict[str, FirstRequest]]:
    """Each function's first request, with a baseline run before every two of them, and a
    bare start."""
    jobs = []
    requests = {}
    for index, function in enumerate(functions):
        environment = child_environment(template, function, extra_path, standins)
        child = Child(python, function.code_dir, environment)
        requests[function.logical_id] = first_request(function, child, standins)
        if index % 2 == 0:
            jobs.append(Job(BASELINE_LABEL, child, BASELINE))
        jobs.append(Job(function.logical_id, child, requests[function.logical_id].code))
    jobs.append(Job(BARE_LABEL, jobs[0].child, ("", "")))
    return jobs, requests


def ladder_jobs(child: Child) -> list[Job]:
    """Fresh interpreters that each do a little more than the one before: our settings and
    DynamoDB client (botocore's, as `dependencies` makes it), then pydantic and a model, then
    Powertools; a baseline first. The last rung, the whole function, is the function's job."""
    return [
        Job(BASELINE_LABEL, child, BASELINE),
        Job(LADDER[0], child, (_DEPENDENCIES, _CLIENT)),
        Job(LADDER[1], child, (f"{_PYDANTIC_MODEL}\n{_DEPENDENCIES}", _CLIENT)),
        Job(LADDER[2], child, (f"{_PYDANTIC_MODEL}\n{_POWERTOOLS}\n{_DEPENDENCIES}", _CLIENT)),
    ]


def measure(jobs: Sequence[Job], runs: int) -> dict[str, Samples]:
    """Every job once a round, `runs` rounds, in order, and in reverse every other round, so
    that no job always runs before another. Each job runs once untimed first: byte-code caches
    are written on every side alike."""
    samples: dict[str, Samples] = defaultdict(Samples)
    for job in jobs:
        job.child.run("\n".join(job.code))
    for round_ in range(runs):
        for job in jobs if round_ % 2 == 0 else reversed(jobs):
            job.child.timed(job.code, samples[job.label])
        print(f"  round {round_ + 1}/{runs}", file=sys.stderr, flush=True)
    return samples


def rows_for(
    label: str,
    functions: Sequence[Function],
    requests: Mapping[str, FirstRequest],
    measured: Mapping[str, Samples],
    counted: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A row per function: its ratio to the baseline in instructions (the target), and in wall
    and CPU time (reported). A function above the target names the parts of its first request
    that run the most instructions more than the baseline."""
    rows = []
    figures: dict[str, Any] = {}
    floor = measured[BASELINE_LABEL].medians()
    floor_parts = counted[BASELINE_LABEL] if counted else {}
    print(
        f"\n{label}: medians of {len(measured[functions[0].logical_id].wall)} runs (baseline: "
        f"{len(measured[BASELINE_LABEL].wall)}); ms inside the child (perf_counter), its CPU "
        "ms, and the whole process; instructions (the target)\n"
        f"{'function':<28} {'ours':>6} {'base':>6} {'ratio':>6}  {'import':>6} "
        f"{'request':>7}  {'cpu':>5} {'base':>5} {'ratio':>6}  {'process':>7} {'base':>5}  "
        f"{'instr':>6}  met"
    )
    for function in functions:
        name = function.logical_id
        ours = measured[name].medians()
        ratio = ours["inside_ms"] / floor["inside_ms"]
        cpu_ratio = ours["cpu_ms"] / floor["cpu_ms"]
        parts = counted[name] if counted else {}
        instruction_ratio = total(parts) / total(floor_parts) if counted else None
        met = instruction_ratio is not None and instruction_ratio <= TARGET_RATIO
        calls = requests[name].describe()
        print(
            f"{name:<28} {ours['inside_ms']:>6.0f} {floor['inside_ms']:>6.0f} "
            f"{ratio:>5.2f}x  {ours['first_part_ms']:>6.0f} {ours['second_part_ms']:>7.0f}  "
            f"{ours['cpu_ms']:>5.0f} {floor['cpu_ms']:>5.0f} {cpu_ratio:>5.2f}x  "
            f"{ours['process_wall_ms']:>7.0f} {floor['process_wall_ms']:>5.0f}  "
            f"{f'{instruction_ratio:.2f}x' if instruction_ratio else '-':>6}  "
            f"{'yes' if met else 'NO'}"
        )
        times = (
            f"wall {ratio:.2f}x ({ours['inside_ms']:.0f} vs {floor['inside_ms']:.0f} ms), "
            f"CPU {cpu_ratio:.2f}x"
        )
        if instruction_ratio is None:
            figure = f"instructions not counted (valgrind); {times}"
        else:
            figure = (
                f"{instruction_ratio:.3f}x in instructions ({total(parts) / 1e6:.0f}M vs "
                f"{total(floor_parts) / 1e6:.0f}M); {times}"
            )
            if not met:
                figure += f"; most above the baseline: {where_instructions_go(parts, floor_parts)}"
        rows.append(
            {
                "target": f"cold start: {name} ({label})",
                "figure": figure,
                "limit": f"<= {TARGET_RATIO}x the boto3 baseline in instructions",
                "met": met,
                "detail": (
                    f"handler import {ours['first_part_ms']:.0f} ms + {calls} "
                    f"{ours['second_part_ms']:.0f} ms; baseline import boto3 "
                    f"{floor['first_part_ms']:.0f} ms + client {floor['second_part_ms']:.0f} ms; "
                    f"CPU {ours['cpu_ms']:.0f} vs {floor['cpu_ms']:.0f} ms ({cpu_ratio:.2f}x); "
                    f"whole process {ours['process_wall_ms']:.0f} vs "
                    f"{floor['process_wall_ms']:.0f} ms"
                ),
            }
        )
        figures[name] = {
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "instruction_ratio": instruction_ratio,
            "instructions": dict(parts),
            "function": ours,
            "baseline": floor,
            "first_request": calls,
            "runs": len(measured[name].wall),
        }
    if counted:
        print(f"\n{label}: instructions by part, millions (the baseline first)")
        parts_order = [START_UP, *IMPORT_GROUPS, FIRST_REQUEST]
        print("  " + " ".join(f"{part[:10]:>10}" for part in parts_order) + "  function")
        for name in [BASELINE_LABEL, *(function.logical_id for function in functions)]:
            shown_parts = counted[name]
            print(
                "  "
                + " ".join(f"{shown_parts.get(part, 0) / 1e6:>10.1f}" for part in parts_order)
                + f"  {name if name != BASELINE_LABEL else 'baseline'}"
            )
    return rows, figures


def snapstart_estimate(
    label: str, figures: Mapping[str, Any], counted: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """What SnapStart would skip, estimated from the measured init: a restored environment
    does not run init (the interpreter's start-up and the handler's import, with everything
    it imports), but still builds what the first request builds. The restore's own time is
    not known without AWS."""
    per_function = {}
    for name, figure in figures.items():
        parts = counted.get(name, {})
        init = total(parts) - parts.get(FIRST_REQUEST, 0) if parts else None
        per_function[name] = {
            "init_instructions": init,
            "first_request_instructions": parts.get(FIRST_REQUEST) if parts else None,
            "init_share": init / total(parts) if parts and init is not None else None,
            "init_ms": figure["function"]["first_part_ms"],
            "first_request_ms": figure["function"]["second_part_ms"],
        }
    shares = [f["init_share"] for f in per_function.values() if f["init_share"] is not None]
    init_ms = [f["init_ms"] for f in per_function.values()]
    left_ms = [f["first_request_ms"] for f in per_function.values()]
    if shares:
        figure = (
            f"init skipped: median {statistics.median(shares):.0%} of a cold start's "
            f"instructions ({min(shares):.0%}-{max(shares):.0%} by function), "
            f"{statistics.median(init_ms):.0f} ms of handler import (median); left after a "
            f"restore: the first request, median {statistics.median(left_ms):.0f} ms"
        )
    else:
        figure = (
            f"init skipped: median {statistics.median(init_ms):.0f} ms of handler import; "
            f"left after a restore: the first request, median {statistics.median(left_ms):.0f} ms"
        )
    delivering = [name for name in figures if "first APNs send" in figures[name]["first_request"]]
    for name in delivering:
        figure += (
            f"; {name} keeps {per_function[name]['first_request_ms']:.0f} ms (its first send's "
            "set-up is made on first use)"
        )
    return {
        "target": f"SnapStart estimate ({label})",
        "figure": figure,
        "limit": (
            "no target: an estimate from the init measured here, plus the restore's time, which "
            "cannot be measured without AWS"
        ),
        "met": True,
        "functions": per_function,
    }


def ladder(measured: Mapping[str, Samples], function: Function) -> list[dict[str, float | str]]:
    """What each rung of the ladder adds to the one before, in medians."""
    base = measured[BASELINE_LABEL].medians()
    steps: list[dict[str, float | str]] = []
    previous: dict[str, float] | None = None
    print(f"\nwhere the time goes, {function.logical_id} (medians, ms)")
    for label in [BASELINE_LABEL, *LADDER, function.logical_id]:
        figures = measured[label].medians()
        step: dict[str, float | str] = {
            "step": label,
            "inside_ms": figures["inside_ms"],
            "cpu_ms": figures["cpu_ms"],
            "ratio": figures["inside_ms"] / base["inside_ms"],
        }
        adds = ""
        if previous is not None:
            step["adds_ms"] = figures["inside_ms"] - previous["inside_ms"]
            step["adds_cpu_ms"] = figures["cpu_ms"] - previous["cpu_ms"]
            adds = f"{step['adds_ms']:+5.0f} ms, cpu {step['adds_cpu_ms']:+4.0f}"
        print(
            f"  {figures['inside_ms']:6.0f} ({figures['inside_ms'] / base['inside_ms']:.2f}x) "
            f"cpu {figures['cpu_ms']:4.0f}  {adds:<20}  {label}"
        )
        steps.append(step)
        previous = figures
    return steps


def import_breakdown(child: Child, code: str, repeats: int = 3, top: int = 15) -> dict[str, Any]:
    """Where the import milliseconds of `code` go, from the median (by total) of a few
    `-X importtime` runs (which inflate every figure a little)."""
    reports = []
    for _ in range(repeats):
        finished = child.run(code, "-X", "importtime")
        if finished.returncode != 0:
            raise RuntimeError(finished.stderr)
        reports.append(_parse_importtime(finished.stderr))
    reports.sort(key=lambda modules: sum(self_us for self_us, _ in modules.values()))
    modules = reports[len(reports) // 2]
    groups: dict[str, float] = defaultdict(float)
    for name, (self_us, _) in modules.items():
        groups[_group(name)] += self_us / 1000
    by_self = sorted(modules.items(), key=lambda item: item[1][0], reverse=True)[:top]
    by_cumulative = sorted(modules.items(), key=lambda item: item[1][1], reverse=True)[:top]
    return {
        "modules": len(modules),
        "total_self_ms": sum(self_us for self_us, _ in modules.values()) / 1000,
        "groups_self_ms": dict(sorted(groups.items(), key=lambda item: -item[1])),
        "top_self_ms": {name: times[0] / 1000 for name, times in by_self},
        "top_cumulative_ms": {name: times[1] / 1000 for name, times in by_cumulative},
    }


def _parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    modules = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        modules[name.strip()] = (int(self_us), int(cumulative_us))
    return modules


def _group(module: str) -> str:
    top = module.split(".")[0]
    if top in _AWS_SDK:
        return "botocore (boto3, s3transfer, urllib3, jmespath, dateutil)"
    if top in _PYDANTIC or top.startswith("typing_inspection"):
        return "pydantic (pydantic_core, annotated_types, typing_extensions)"
    if top == "aws_lambda_powertools":
        return "Powertools"
    if top in ("notify_bindings", "app"):
        return "our layer and handler"
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "standard library"
    return "other (optional imports that are tried and missing)"


def print_breakdown(label: str, breakdown: Mapping[str, Any]) -> None:
    print(
        f"\n{label}: -X importtime, {breakdown['modules']} modules, "
        f"{breakdown['total_self_ms']:.0f} ms of imports in all"
    )
    print("  self time by group:")
    for group, ms in breakdown["groups_self_ms"].items():
        print(f"    {ms:7.1f} ms  {group}")
    print("  most self time:")
    for name, ms in breakdown["top_self_ms"].items():
        print(f"    {ms:7.1f} ms  {name}")
    print("  most cumulative time:")
    for name, ms in breakdown["top_cumulative_ms"].items():
        print(f"    {ms:7.1f} ms  {name}")


_CALLGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")
# Callgrind writes what it counted so far each time the child calls getppid(), which nothing
# the functions load calls: the child calls it between the parts it counts apart.
_MARK = "os.getppid()"

# Prints, as JSON, the modules loaded once `code` ran, in the order they were first imported.
_LOADED = """\
{first}
{second}
import sys as _sys
_loaded = list(_sys.modules)
import json as _json
print(_json.dumps(_loaded))
_sys.stdout.flush()
import os as _os
_os._exit(0)
"""

# The first request again, its imports made group by group first (IMPORT_GROUPS: every module
# of each that the request loads), then the handler's import and the request itself: one
# count for each part. The total is the request's (each module is imported once either way).
_SPLIT = """\
import os
{mark}
def _import(names):
    for name in names:
        try:
            __import__(name)
        except Exception:
            pass
{imports}
{first}
{mark}
{second}
os._exit(0)
"""


def instruction_group(module: str) -> str:
    """The group of IMPORT_GROUPS whose instructions importing `module` counts for."""
    top = module.split(".")[0]
    if top in ("notify_bindings", "app"):
        return "ours"
    if top in _AWS_SDK:
        return "botocore"
    if top in _PYDANTIC or top.startswith("typing_inspection"):
        return "pydantic"
    if top == "aws_lambda_powertools":
        return "Powertools"
    if top in _HTTP or top == "certifi":
        return "httpx/h2"
    if top in _CRYPTOGRAPHY:
        return "cryptography"
    if top == "jwt":
        return "jwt"
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "standard library"
    return "other libraries"


def split_program(child: Child, code: tuple[str, str]) -> str:
    """`code` as _SPLIT runs it, with the modules it loads (found by running it once)."""
    finished = child.run(_LOADED.format(first=code[0], second=code[1]))
    if finished.returncode != 0:
        raise RuntimeError(f"child failed in {child.cwd}:\n{finished.stderr}")
    loaded = json.loads(finished.stdout.splitlines()[-1])
    by_group: dict[str, list[str]] = {group: [] for group in IMPORT_GROUPS}
    for module in loaded:
        if module != "__main__":
            by_group[instruction_group(module)].append(module)
    imports = "\n".join(
        f"_import({names!r})\n{_MARK if group != IMPORT_GROUPS[-1] else ''}"
        for group, names in by_group.items()
    )
    return _SPLIT.format(mark=_MARK, imports=imports, first=code[0], second=code[1])


def instructions(child: Child, code: tuple[str, str]) -> dict[str, int]:
    """The machine instructions a fresh interpreter runs for `code` (valgrind's callgrind counts
    them: the same on every run, whatever else the machine is doing), in parts: the start-up,
    the imports of each of IMPORT_GROUPS (ours with the handler's own import: Lambda's init),
    and the first request."""
    program = split_program(child, code)
    child.run(program)  # byte-code caches written first, as before every timed run
    parts = [START_UP, *IMPORT_GROUPS, FIRST_REQUEST]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        tool = (
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            f"--dump-before={_MARK.removeprefix('os.').removesuffix('()')}",
            "--dump-instr=no",
            "--dump-line=no",
        )
        finished = child.run(program, under=tool, timeout=900)
        counted = {}
        for dump in Path(scratch).glob("callgrind.out*"):
            text = dump.read_text(errors="replace")
            part = int(text.split("\npart: ", 1)[1].split("\n", 1)[0])
            counted[part] = int(text.split("\ntotals: ", 1)[1].split("\n", 1)[0])
    if finished.returncode != 0 or sorted(counted) != list(range(1, len(parts) + 1)):
        raise RuntimeError(f"valgrind failed in {child.cwd}:\n{finished.stderr[-2000:]}")
    return {part: counted[number] for number, part in enumerate(parts, start=1)}


def whole_instructions(child: Child, code: tuple[str, str]) -> int:
    """The instructions of `code` run as it is, in one count: what the split counts add up to,
    but for the order of the imports."""
    program = "\n".join([*code, "import os", "os._exit(0)"])
    child.run(program)
    finished = child.run(program, under=_CALLGRIND, timeout=900)
    counted = [line for line in finished.stderr.splitlines() if "Collected :" in line]
    if finished.returncode != 0 or not counted:
        raise RuntimeError(f"valgrind failed in {child.cwd}:\n{finished.stderr[-2000:]}")
    return int(counted[-1].split()[-1])


def count_instructions(jobs: Sequence[Job]) -> dict[str, dict[str, int]]:
    """The instructions of each job but the bare start (once: they do not vary), in parts, on
    every core; the baseline's also counted whole (`whole`), as a check of the split."""
    wanted = {job.label: job for job in jobs if job.label != BARE_LABEL}
    print(f"  counting instructions of {len(wanted)} children (valgrind)", file=sys.stderr)
    baseline = wanted[BASELINE_LABEL]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        whole = pool.submit(whole_instructions, baseline.child, baseline.code)
        found = pool.map(lambda job: instructions(job.child, job.code), wanted.values())
        counted = dict(zip(wanted, found, strict=True))
        counted[BASELINE_LABEL] = {**counted[BASELINE_LABEL], "whole": whole.result()}
        return counted


def total(parts: Mapping[str, int]) -> int:
    return sum(count for part, count in parts.items() if part != "whole")


def where_instructions_go(ours: Mapping[str, int], floor: Mapping[str, int], top: int = 4) -> str:
    """The parts in which a function runs the most instructions more than the baseline, in
    millions: what takes it above the target."""
    parts = [START_UP, *IMPORT_GROUPS, FIRST_REQUEST]
    deltas = {part: (ours.get(part, 0) - floor.get(part, 0)) / 1e6 for part in parts}
    largest = sorted(deltas.items(), key=lambda item: -abs(item[1]))[:top]
    named = {"ours": "ours (our modules and the models they build)"}
    return ", ".join(f"{named.get(part, part)} {delta:+.0f}M" for part, delta in largest)


def counting(args: argparse.Namespace) -> bool:
    return shutil.which("valgrind") is not None and not args.no_instructions


DEPLOYED_BASELINE = "baseline, boto3 from the compiled layer"
DEPLOYED_COMPILED = "layer with byte-code (its Makefile, as sam build ships it)"
DEPLOYED_SOURCE = "layer without byte-code (as BuildMethod python3.13 shipped it)"


def as_deployed(
    template: SamTemplate,
    function: Function,
    requests: Mapping[str, FirstRequest],
    scratch: Path,
    runs: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`function`'s first request with the layer as built for Lambda, alone on the path, with
    its byte-code and without; a baseline importing boto3 from the same layer."""
    compiled = build_layer(scratch / "compiled")
    source_only = without_bytecode(compiled, scratch / "source-only")

    def child(layer: Path) -> Child:
        environment = child_environment(template, function)
        environment["PYTHONPATH"] = str(layer)
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        return Child(sys.executable, function.code_dir, environment)

    code = requests[function.logical_id].code
    measured = measure(
        [
            Job(DEPLOYED_BASELINE, child(compiled), BASELINE),
            Job(DEPLOYED_COMPILED, child(compiled), code),
            Job(DEPLOYED_SOURCE, child(source_only), code),
        ],
        runs,
    )
    floor = measured[DEPLOYED_BASELINE].medians()
    rows, figures = [], {"baseline": floor}
    print(f"\nas deployed, {function.logical_id} (medians, ms inside the child)")
    for label in (DEPLOYED_COMPILED, DEPLOYED_SOURCE):
        ours = measured[label].medians()
        ratio = ours["inside_ms"] / floor["inside_ms"]
        print(f"  {ours['inside_ms']:6.0f} ({ratio:.2f}x) cpu {ours['cpu_ms']:5.0f}  {label}")
        figures[label] = {**ours, "ratio": ratio}
        rows.append(
            {
                "target": f"cold start as deployed: {function.logical_id}, {label}",
                "figure": (
                    f"{ours['inside_ms']:.0f} ms ({ratio:.2f}x the {floor['inside_ms']:.0f} ms "
                    "baseline)"
                ),
                "limit": "no target: how the layer is built decides it",
                "met": True,
                "detail": f"CPU {ours['cpu_ms']:.0f} vs {floor['cpu_ms']:.0f} ms",
            }
        )
    return rows, figures


def on_lambda_python(
    template: SamTemplate,
    functions: Sequence[Function],
    args: argparse.Namespace,
    scratch: Path,
    rows: list[dict[str, Any]],
    standins: DeliveryStandIns,
) -> tuple[dict[str, Any], str]:
    """The comparison again on the Lambda runtime's Python version when one is found, with the
    layer's dependencies from its site-packages, --lambda-deps or a layer built for it here.
    Appends its rows to `rows`; returns its figures and what was used."""
    python, why = lambda_python()
    if python is None:
        print(f"\npython{LAMBDA_VERSION}: {why}")
        return {}, why
    extra_path = [str(args.lambda_deps.resolve())] if args.lambda_deps else []
    first = functions[0]
    probe = Child(python, first.code_dir, child_environment(template, first, extra_path))
    if imports_layer_dependencies(probe):
        why += ", with the layer's dependencies " + (
            "of --lambda-deps" if extra_path else "of its site-packages"
        )
    elif args.lambda_deps or args.no_layer_build:
        why += ", but it cannot import the layer's dependencies (see --lambda-deps)"
        print(f"\npython{LAMBDA_VERSION}: {why}")
        return {}, why
    else:
        try:
            extra_path = [str(build_layer(scratch / "python313", python=python))]
        except LayerBuildFailed as failed:
            print(failed, file=sys.stderr)
            why += ", but the layer's Makefile could not build a layer for it (its output above)"
            print(f"\npython{LAMBDA_VERSION}: {why}")
            return {}, why
        why += ", with the layer's dependencies from a layer its Makefile built for it here"
    print(f"\npython{LAMBDA_VERSION}: {why}")
    jobs, requests = function_jobs(python, template, functions, extra_path, standins)
    measured = measure(jobs, args.runs)
    counted = count_instructions(jobs) if counting(args) else {}
    label = f"Python {LAMBDA_VERSION}"
    lambda_rows, figures = rows_for(label, functions, requests, measured, counted)
    rows += [*lambda_rows, snapstart_estimate(label, figures, counted)]
    return {"functions": figures, "instructions": counted}, why


def selected(template: SamTemplate, names: Iterable[str] | None) -> list[Function]:
    functions = template.functions
    if not names:
        return list(functions.values())
    unknown = set(names) - set(functions)
    if unknown:
        raise SystemExit(f"not functions of template.yaml: {', '.join(sorted(unknown))}")
    return [functions[name] for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=11, help="rounds of timed runs (instructions: counted once)"
    )
    parser.add_argument("--function", action="append", help="only this function (repeatable)")
    parser.add_argument(
        "--no-layer-build", action="store_true", help="never build the layer (pip, ~15 s)"
    )
    parser.add_argument(
        "--no-instructions",
        action="store_true",
        help="skip the instruction counts (valgrind, when installed; ~20 s a function)",
    )
    parser.add_argument(
        "--lambda-deps",
        type=Path,
        help=f"a directory with the layer's dependencies for python{LAMBDA_VERSION}",
    )
    args = parser.parse_args()
    keep_aws_local()
    template = SamTemplate.load()
    functions = selected(template, args.function)
    version = sys.version.split()[0]
    print(f"cold start: {args.runs} rounds of baselines and functions", file=sys.stderr)

    with (
        tempfile.TemporaryDirectory() as scratch,
        delivery_standins(Path(scratch) / "standins") as standins,
    ):
        run(args, template, functions, version, Path(scratch), standins)


def run(
    args: argparse.Namespace,
    template: SamTemplate,
    functions: Sequence[Function],
    version: str,
    scratch: Path,
    standins: DeliveryStandIns,
) -> None:
    jobs, requests = function_jobs(sys.executable, template, functions, (), standins)
    breakdown_function = template.functions[BREAKDOWN_FUNCTION]
    breakdown_child = Child(
        sys.executable, breakdown_function.code_dir, child_environment(template, breakdown_function)
    )
    with_ladder = breakdown_function in functions
    measured = measure(jobs + (ladder_jobs(breakdown_child) if with_ladder else []), args.runs)
    counted = count_instructions(jobs) if counting(args) else {}
    label = f"Python {version}"
    rows, figures = rows_for(label, functions, requests, measured, counted)
    rows.append(snapstart_estimate(label, figures, counted))
    bare_ms = measured[BARE_LABEL].medians()["process_wall_ms"]
    outside = statistics.median([figure["function"]["outside_ms"] for figure in figures.values()])
    print(
        f"interpreter start-up, outside the figures above: bare `python -c pass` {bare_ms:.0f} ms;"
        f" process wall time less the child's own, median over functions {outside:.0f} ms"
    )

    steps = ladder(measured, breakdown_function) if with_ladder else []
    breakdown_code = (
        requests[BREAKDOWN_FUNCTION]
        if with_ladder
        else first_request(breakdown_function, breakdown_child)
    ).code
    breakdown = import_breakdown(breakdown_child, "\n".join(breakdown_code))
    print_breakdown(BREAKDOWN_FUNCTION, breakdown)
    baseline_breakdown = import_breakdown(breakdown_child, "\n".join(BASELINE))
    print(
        f"baseline: {baseline_breakdown['modules']} modules, "
        f"{baseline_breakdown['total_self_ms']:.0f} ms of imports; "
        + ", ".join(f"{g} {ms:.0f} ms" for g, ms in baseline_breakdown["groups_self_ms"].items())
    )

    deployed_rows, deployed = (
        as_deployed(template, breakdown_function, requests, scratch, args.runs)
        if with_ladder and not args.no_layer_build
        else ([], {})
    )
    rows += deployed_rows
    lambda_figures, why = on_lambda_python(template, functions, args, scratch, rows, standins)

    notes = [
        f"Python {version} ({shown(sys.executable)}); each figure is a median of {args.runs} fresh "
        "processes; every round runs a baseline before every two functions, in reverse order "
        "every other round, and each function is compared with the median of all baselines.",
        "Function = import the handler module (Lambda's init) + dependencies.settings() + the "
        "clients its policies need (dynamodb(), sqs(), secretsmanager()) + the other "
        "dependencies its code builds; baseline = import boto3 + boto3.client('dynamodb'); "
        "same environment and working directory, no request to AWS. "
        "DeliverNotificationsFunction's first request also opens an APNs token credential, signs "
        "its provider token, connects over TLS and HTTP/2 to the APNs stand-in (on loopback) "
        "and sends one notification: its first batch's set-up and first send.",
        f"Target: <= {TARGET_RATIO}x the baseline in instructions (valgrind's callgrind, whole "
        "process, interpreter start-up included on both sides): the same on every run whatever "
        "else the machine does. Wall and CPU time are reported beside them, without a target.",
        "Where the instructions go: each child imports the modules its first request loads "
        "group by group (standard library, botocore, pydantic, Powertools, httpx/h2, "
        "cryptography, jwt, other libraries), then ours with the handler, then runs the first "
        "request, and callgrind counts each part apart; a row above the target names the parts "
        "that run the most instructions more than the baseline's."
        + (
            f" The split changes only the order of the imports: the baseline counted whole "
            f"runs {counted[BASELINE_LABEL]['whole'] / 1e6:.1f}M instructions, split "
            f"{total(counted[BASELINE_LABEL]) / 1e6:.1f}M."
            if counted
            else ""
        ),
        "SnapStart estimate: with SnapStart, Lambda runs init (start-up and the handler's "
        "import) once per published version and restores new environments from its snapshot; "
        "what the first request builds (clients, stores, providers' clients) is still built "
        "after the restore. The restore's own time cannot be measured without AWS.",
        "Timed inside the child with perf_counter from its first line to its last: the "
        f"interpreter's start-up is outside the figures (bare start-up {bare_ms:.0f} ms). The "
        "child ends with os._exit, as Lambda never tears an interpreter down on a cold start.",
        "Byte-code caches (__pycache__) are warm on both sides, as in the layer `sam build` "
        "makes with layers/notify_bindings/Makefile. The rows 'as deployed' load that layer "
        "alone, with its byte-code and with none (as BuildMethod python3.13 shipped it: a "
        "layer is read-only on Lambda, so its modules were compiled at every cold start).",
        "The ladder measures what each part adds once the previous ones are loaded; "
        "-X importtime counts a standard module shared by several packages for the first one "
        "that imports it.",
        f"python{LAMBDA_VERSION}: {why}.",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "title": "Cold start versus import boto3 + a DynamoDB client",
                "rows": rows,
                "notes": notes,
                "python": f"{version} ({shown(sys.executable)})",
                "as_deployed": deployed,
                "instructions": counted,
                "runs": args.runs,
                "bare_interpreter_start_ms": bare_ms,
                "functions": figures,
                f"functions_python{LAMBDA_VERSION}": lambda_figures,
                "ladder": {BREAKDOWN_FUNCTION: steps},
                "importtime": {BREAKDOWN_FUNCTION: breakdown, "baseline": baseline_breakdown},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
