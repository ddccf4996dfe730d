"""Cold start cost of the delivery libraries: httpx (+ h2), PyJWT, cryptography, and the
providers package built on them, each imported in a fresh interpreter.

The layer is built first as `sam build` builds it (layers/notify_bindings/Makefile, this
machine's wheels, byte-code compiled), and each row's code runs in a child Python (the one
running this) started with -S and the built layer as its path: only what the layer ships is
importable, as on Lambda. (In the dev virtualenv `import httpx` also loads its command
line's rich, click and pygments, about 35 ms that Lambda never pays; --no-layer-build
measures there anyway.)

The child times itself with time.perf_counter() from its first line to its last, so the
interpreter's own start-up (the "bare interpreter" row: `pass`) is not counted. Rows run in
interleaved rounds after one warm-up round, and each is reported as the median of --runs
rounds (11 by default) in wall and CPU milliseconds. Rows share modules (`import jwt` loads
cryptography), so they do not add up.

Then each row three more times under `python -X importtime`, the median run kept: the sum of
the cumulative times of its top-level imports (importtime's own overhead included, so higher
than the medians) and the five packages whose modules took the most time of their own.

"ready" rows do what a delivering function's first request does before its first send: parse
the stored credential (trusted=True: no RSA key check), sign its first JWT and build the
HTTP client (for APNs an SSL context with certifi's CAs). google-auth is not a dependency;
it is measured when importable, e.g. after `pip install --target DIR google-auth requests`
and `--extra-path DIR`.

Run: .venv/bin/python -m bench.provider_imports [--runs 11] [--extra-path DIR]
     [--no-layer-build]
Writes bench/results/provider_imports.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench.layer_build import build_layer

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "notify_bindings"
RESULTS = Path(__file__).resolve().parent / "results" / "provider_imports.json"

_TIMED = """\
import time
_start, _start_cpu = time.perf_counter(), time.process_time()
{code}
_end, _end_cpu = time.perf_counter(), time.process_time()
print((_end - _start) * 1000, (_end_cpu - _start_cpu) * 1000)
import os, sys
sys.stdout.flush()
os._exit(0)
"""
_APNS_READY = """\
import os
from notify_bindings.providers import apns, credentials
key = credentials.parse_apns_token_key(
    open(os.environ["BENCH_EC_KEY"]).read(), key_id="KEY0000001", team_id="TEAM000001",
    topic="com.example.app")
apns.ProviderTokens(key).current()
apns.ApnsClient(apns.apns_http_client(key), key)
"""
_FCM_READY = """\
import os, time
from notify_bindings.providers import credentials, fcm
account = credentials.parse_service_account(
    open(os.environ["BENCH_SERVICE_ACCOUNT"]).read(), trusted=True)
client = fcm.FcmClient(fcm.fcm_http_client(), account)
client.tokens.assertion(time.time())
"""
_GOOGLE_AUTH = """\
from google.oauth2 import service_account
import google.auth.transport.requests
"""


@dataclass(frozen=True)
class Row:
    label: str
    code: str
    optional: bool = False


ROWS = (
    Row("bare interpreter (pass)", "pass"),
    Row("import httpx", "import httpx"),
    Row("import h2.connection", "import h2.connection"),
    Row("httpx.Client(http2=True)", "import httpx\nhttpx.Client(http2=True)"),
    Row("import jwt (PyJWT, loads cryptography)", "import jwt"),
    Row(
        "cryptography: x509, serialization, ec, rsa",
        "from cryptography import x509\n"
        "from cryptography.hazmat.primitives import serialization\n"
        "from cryptography.hazmat.primitives.asymmetric import ec, rsa",
    ),
    Row(
        "providers.outcomes + webhooks (httpx: it posts callbacks)",
        "import notify_bindings.providers.outcomes, notify_bindings.providers.webhooks",
    ),
    Row("providers.credentials", "import notify_bindings.providers.credentials"),
    Row("providers.apns", "import notify_bindings.providers.apns"),
    Row("providers.fcm", "import notify_bindings.providers.fcm"),
    Row("providers.twilio_messages", "import notify_bindings.providers.twilio_messages"),
    Row("operations.channels", "import notify_bindings.operations.channels"),
    Row("operations.sending (every provider)", "import notify_bindings.operations.sending"),
    Row("operations.callbacks", "import notify_bindings.operations.callbacks"),
    Row(
        "Senders built (an httpx client each for FCM and Twilio)",
        "from notify_bindings.operations.sending import Endpoints, Senders\n"
        "Senders(Endpoints('https://a', 'https://a', 'https://f', 'https://f/t', 'https://t'))",
    ),
    Row("APNs ready: .p8 parsed, ES256 token, client", _APNS_READY),
    Row("FCM ready: key parsed, RS256 assertion, client", _FCM_READY),
    Row("google-auth service_account + requests transport", _GOOGLE_AUTH, optional=True),
)


def environment(layer: Path, extra_path: str | None, keys: dict[str, str]) -> dict[str, str]:
    paths = [str(layer), *([extra_path] if extra_path else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return {**env, "PYTHONPATH": os.pathsep.join(paths), **keys}


def python(isolated: bool) -> list[str]:
    """The child's command: without site-packages when the built layer is its whole path."""
    return [sys.executable, "-S"] if isolated else [sys.executable]


def importable(row: Row, env: dict[str, str], command: list[str]) -> bool:
    finished = subprocess.run(
        [*command, "-c", row.code], env=env, cwd=ROOT, capture_output=True, check=False
    )
    return finished.returncode == 0


def timed(row: Row, env: dict[str, str], command: list[str]) -> tuple[float, float]:
    finished = subprocess.run(
        [*command, "-c", _TIMED.format(code=row.code)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    wall, cpu = finished.stdout.split()
    return float(wall), float(cpu)


def importtime(
    row: Row, env: dict[str, str], command: list[str]
) -> tuple[float, list[tuple[str, float]]]:
    """The cumulative milliseconds of the top-level imports, and the packages with the most
    self time (a module shared by two packages counts for whichever imported it first)."""
    finished = subprocess.run(
        [*command, "-X", "importtime", "-c", row.code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    total, packages = 0.0, dict[str, float]()
    for line in finished.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        if not self_us.strip().isdigit():
            continue  # the header line
        package = name.strip().split(".")[0]
        packages[package] = packages.get(package, 0.0) + int(self_us) / 1000
        if not name.startswith("  "):  # a top-level import of the row's code
            total += int(cumulative_us) / 1000
    ranked = sorted(packages.items(), key=lambda item: -item[1])
    return total, ranked[:5]


def write_keys(directory: str) -> dict[str, str]:
    ec_path, account_path = Path(directory, "apns.p8"), Path(directory, "account.json")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_path.write_bytes(_pem(ec_key))
    account_path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "bench",
                "private_key_id": "0" * 40,
                "private_key": _pem(rsa_key).decode(),
                "client_email": "bench@bench.iam.gserviceaccount.com",
            }
        )
    )
    return {"BENCH_EC_KEY": str(ec_path), "BENCH_SERVICE_ACCOUNT": str(account_path)}


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=11, help="rounds per row (median)")
    parser.add_argument("--extra-path", help="a directory added to the children's path")
    parser.add_argument(
        "--no-layer-build",
        action="store_true",
        help="import from the dev virtualenv instead of a layer built by its Makefile",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        if args.no_layer_build:
            layer, command, where = LAYER, python(isolated=False), "the dev virtualenv"
        else:
            layer = build_layer(Path(directory, "layer"))
            command, where = python(isolated=True), "the layer as built (python -S)"
        env = environment(layer, args.extra_path, write_keys(directory))
        rows = [row for row in ROWS if not row.optional or importable(row, env, command)]
        skipped = [row.label for row in ROWS if row not in rows]
        for row in rows:  # warm-up: files in the page cache (and byte-code written if needed)
            timed(row, env, command)
        samples: dict[str, list[tuple[float, float]]] = {row.label: [] for row in rows}
        for round_number in range(args.runs):
            ordered = rows if round_number % 2 == 0 else rows[::-1]
            for row in ordered:
                samples[row.label].append(timed(row, env, command))
        breakdown = {
            row.label: sorted(
                (importtime(row, env, command) for _ in range(3)), key=lambda run: run[0]
            )[1]
            for row in rows
        }

    print(
        f"Python {sys.version.split()[0]}, imports from {where}, "
        f"median of {args.runs} fresh interpreters each"
    )
    print(f"{'':50} {'wall ms':>7} {'cpu ms':>7} {'importtime':>10}  most self time (ms)")
    results = []
    for row in rows:
        wall = statistics.median(sample[0] for sample in samples[row.label])
        cpu = statistics.median(sample[1] for sample in samples[row.label])
        total, top = breakdown[row.label]
        costliest = ", ".join(f"{name} {ms:.0f}" for name, ms in top)
        print(f"{row.label:50} {wall:7.1f} {cpu:7.1f} {total:10.1f}  {costliest}")
        results.append(
            {
                "row": row.label,
                "wall_ms": round(wall, 2),
                "cpu_ms": round(cpu, 2),
                "importtime_ms": round(total, 2),
                "costliest": [[name, round(ms, 2)] for name, ms in top],
            }
        )
    for label in skipped:
        print(f"{label:50} not importable here (not a dependency; see --extra-path)")

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "imports_from": where,
                "runs": args.runs,
                "rows": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
