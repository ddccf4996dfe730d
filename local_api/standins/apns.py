"""A stand-in for APNs' provider API: HTTP/2 over TLS on loopback, made with `h2` and `ssl`.

At start it makes a CA and a server certificate for 127.0.0.1 and localhost, and writes the
CA to `ca_file` (give it to the client). ALPN `h2` serves the provider API and the control API
of common.py; ALPN `http/1.1` (`curl -k https://127.0.0.1:PORT/deliveries`) serves the control
API only. One thread per connection; many streams in flight on each (SETTINGS_MAX_CONCURRENT_
STREAMS 1000, as APNs grants).

Register what it accepts first:
- token auth: `register_token_key(key_id, team_id, public_key, topics)`;
- certificate auth: `register_client_ca(ca_pem)`; a client certificate it issued is then
  verified in the TLS handshake (an unknown or expired one fails the handshake, as APNs'
  does), and opens the topic of its subject UID (and that topic's `.voip`, `.complication`
  and `.pushkit.*` variants).

`POST /3/device/<token>` is checked as APNs checks it, answering its status and `{"reason"}`:
- authentication: a client certificate (403 BadCertificateEnvironment when its common name
  names the other environment), else `authorization: bearer <JWT>`: missing -> 403
  MissingProviderToken; unknown `kid`, not ES256, bad signature, `iss` not the key's team, a
  second team on the connection -> 403 InvalidProviderToken; `iat` over an hour old by `clock`
  -> 403 ExpiredProviderToken; a key's token changed on a connection within 20 minutes of its
  previous change -> 429 TooManyProviderTokenUpdates;
- headers: apns-id a UUID (BadMessageId), apns-priority 1, 5 or 10 (BadPriority),
  apns-expiration a number (BadExpirationDate), apns-collapse-id <= 64 bytes (BadCollapseId),
  apns-push-type known (InvalidPushType), no apns-* header twice (DuplicateHeaders);
- topic: apns-topic required with token auth (400 MissingTopic) and allowed for the key or
  certificate (400 TopicDisallowed);
- payload: not empty (400 PayloadEmpty), <= 4096 bytes (5120 for voip; 413 PayloadTooLarge),
  a JSON object with `aps` (400 BadPayload: the stand-in's own word, Apple documents none);
- device token: letters and digits (400 BadDeviceToken), then the test cards: `dead...` ->
  410 Unregistered with `timestamp`; `bad...` -> 400 BadDeviceToken; `other...` -> 400
  DeviceTokenNotForTopic; `busy...` -> 503 ServiceUnavailable with Retry-After: 1 the first
  time that token is seen.
Anything else -> 200 with `apns-id`, recorded in /deliveries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import selectors
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from local_api.standins.common import MAX_BODY, Answer, Fault, StandIn
from local_api.standins.tls import CertificateAuthority

log = logging.getLogger("local_api.standins.apns")

TOKEN_MAX_AGE = 3600
TOKEN_UPDATE_INTERVAL = 20 * 60
MAX_CONCURRENT_STREAMS = 1000
_PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "location",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
        "widgets",
        "controls",
    }
)
_TOPIC_SUFFIXES = (".voip", ".complication", ".pushkit.fileprovider", ".push-type.liveactivity")
_DEVICE_TOKEN = re.compile(r"[0-9A-Za-z]{1,200}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DROP = object()


@dataclass(frozen=True)
class _TokenKey:
    team_id: str
    public_key: ec.EllipticCurvePublicKey
    topics: frozenset[str]


@dataclass
class _Peer:
    """What one connection has shown: its client certificate, its provider tokens."""

    certificate_topics: frozenset[str] | None = None
    certificate_environment: str | None = None
    certificate_subject: str | None = None
    team_id: str | None = None
    verified: dict[str, tuple[str, int]] = field(default_factory=dict)  # token -> (kid, iat)
    current: dict[str, tuple[str, float]] = field(default_factory=dict)  # kid -> (token, when)


class ApnsStandIn(StandIn):
    def __init__(
        self,
        *,
        port: int = 0,
        environment: str = "production",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        if environment not in ("production", "sandbox"):
            raise ValueError("environment is production or sandbox")
        self.environment = environment
        self._clock = clock
        self._keys: dict[str, _TokenKey] = {}
        self._lock = threading.Lock()
        self._directory = tempfile.TemporaryDirectory(prefix="apns-standin-")
        authority = CertificateAuthority("notify-bindings APNs stand-in CA")
        server = authority.issue_server()
        self.ca_file = os.path.join(self._directory.name, "ca.pem")
        with open(self.ca_file, "wb") as file:
            file.write(authority.certificate_pem)
        chain = os.path.join(self._directory.name, "server.pem")
        with open(chain, "wb") as file:
            file.write(server.certificate_pem + server.private_key_pem)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self._tls.load_cert_chain(chain)
        self._tls.set_alpn_protocols(["h2", "http/1.1"])
        self._listener = socket.create_server(("127.0.0.1", port), backlog=128)
        self._listener.settimeout(0.1)  # accept() wakes up to notice stop()
        self._running = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: set[_H2Connection | _Closable] = set()
        self.connections_accepted = 0

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}"

    def register_token_key(
        self,
        key_id: str,
        team_id: str,
        public_key: ec.EllipticCurvePublicKey,
        topics: Iterable[str],
    ) -> None:
        with self._lock:
            self._keys[key_id] = _TokenKey(team_id, public_key, frozenset(topics))

    def register_client_ca(self, ca_pem: bytes) -> None:
        """Trust client certificates this CA issued (from the next connection on)."""
        with self._lock:
            self._tls.load_verify_locations(cadata=ca_pem.decode("ascii"))
            self._tls.verify_mode = ssl.CERT_OPTIONAL
            # TLS 1.2, where a refused client certificate fails the handshake itself with the
            # alert that says why. In TLS 1.3 the client has finished its part by then, and
            # its first write can meet a bare end of stream before the alert arrives.
            self._tls.maximum_version = ssl.TLSVersion.TLSv1_2

    def start(self) -> ApnsStandIn:
        self._running.set()
        thread = threading.Thread(target=self._accept, name="apns-standin", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._running.clear()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        for thread in self._threads:
            thread.join(timeout=5)

        self._directory.cleanup()

    def __enter__(self) -> ApnsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while self._running.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(None)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections_accepted += 1
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _serve(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(10)
            sock = self._tls.wrap_socket(raw, server_side=True)
            sock.settimeout(None)
        except (ssl.SSLError, OSError) as error:
            log.debug("TLS handshake failed: %s", error)
            _linger(raw)
            return
        connection: _H2Connection | _Closable = (
            _H2Connection(self, sock, self._peer(sock))
            if sock.selected_alpn_protocol() == "h2"
            else _Closable(sock)
        )
        with self._lock:
            self._connections.add(connection)
        try:
            if isinstance(connection, _H2Connection):
                connection.run()
            else:
                _ControlOverHttp1(sock, ("127.0.0.1", 0), self)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError) as error:
            log.debug("connection ended: %s", error)
        finally:
            with self._lock:
                self._connections.discard(connection)
            _close(sock)

    def _peer(self, sock: ssl.SSLSocket) -> _Peer:
        der = sock.getpeercert(binary_form=True)
        if not der:
            return _Peer()
        certificate = x509.load_der_x509_certificate(der)
        uid = certificate.subject.get_attributes_for_oid(NameOID.USER_ID)
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else ""
        topics: frozenset[str] = frozenset()
        if uid:
            topic = str(uid[0].value)
            topics = frozenset({topic, *(topic + suffix for suffix in _TOPIC_SUFFIXES)})
        environment = None
        if common_name.startswith("Apple Development"):
            environment = "sandbox"
        elif common_name.startswith("Apple Production"):
            environment = "production"
        return _Peer(
            certificate_topics=topics,
            certificate_environment=environment,
            certificate_subject=certificate.subject.rfc4514_string(),
        )

    def answer(
        self, peer: _Peer, method: str, path: str, headers: dict[str, list[str]], body: bytes
    ) -> tuple[Answer, dict[str, Any] | None]:
        """APNs' answer to one request, and the delivery to record if it was accepted."""
        if not path.startswith("/3/device/"):
            return _reason(404, "BadPath"), None
        if method != "POST":
            return _reason(405, "MethodNotAllowed"), None
        authenticated = self._authenticate(peer, headers)
        if isinstance(authenticated, Answer):
            return authenticated, None
        allowed_topics, auth = authenticated
        for name, values in headers.items():
            if name.startswith("apns-") and len(values) > 1:
                return _reason(400, "DuplicateHeaders"), None
        single = {name: values[0] for name, values in headers.items()}
        apns_id = single.get("apns-id")
        if apns_id is not None and not _UUID.fullmatch(apns_id):
            return _reason(400, "BadMessageId"), None
        if single.get("apns-priority", "10") not in ("1", "5", "10"):
            return _reason(400, "BadPriority"), None
        if not single.get("apns-expiration", "0").isdigit():
            return _reason(400, "BadExpirationDate"), None
        if len(single.get("apns-collapse-id", "").encode()) > 64:
            return _reason(400, "BadCollapseId"), None
        push_type = single.get("apns-push-type", "alert")
        if push_type not in _PUSH_TYPES:
            return _reason(400, "InvalidPushType"), None
        topic = single.get("apns-topic")
        if topic is None and auth["auth"] == "certificate" and len(allowed_topics) > 0:
            topic = min(allowed_topics, key=len)  # a single-topic certificate's own topic
        if topic is None:
            return _reason(400, "MissingTopic"), None
        if topic not in allowed_topics:
            return _reason(400, "TopicDisallowed"), None
        if not body:
            return _reason(400, "PayloadEmpty"), None
        if len(body) > (5120 if push_type == "voip" else 4096):
            return _reason(413, "PayloadTooLarge"), None
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return _reason(400, "BadPayload"), None
        device_token = path[len("/3/device/") :]
        if not device_token:
            return _reason(400, "MissingDeviceToken"), None
        if not _DEVICE_TOKEN.fullmatch(device_token) or device_token.startswith("bad"):
            return _reason(400, "BadDeviceToken"), None
        if device_token.startswith("dead"):
            answer = Answer.json(
                410, {"reason": "Unregistered", "timestamp": int(self._clock() * 1000)}
            )
            return answer, None
        if device_token.startswith("other"):
            return _reason(400, "DeviceTokenNotForTopic"), None
        if device_token.startswith("busy") and self.deliveries.first_sight(device_token):
            return _reason(503, "ServiceUnavailable", ("retry-after", "1")), None
        apns_id = (apns_id or str(uuid.uuid4())).lower()
        delivery = {
            "device_token": device_token,
            "apns_id": apns_id,
            "topic": topic,
            "push_type": push_type,
            "priority": single.get("apns-priority"),
            "expiration": single.get("apns-expiration"),
            "collapse_id": single.get("apns-collapse-id"),
            **auth,
            "payload": payload,
        }
        return Answer(200, b"", [("apns-id", apns_id)]), delivery

    def _authenticate(
        self, peer: _Peer, headers: dict[str, list[str]]
    ) -> Answer | tuple[frozenset[str], dict[str, Any]]:
        if peer.certificate_topics is not None:
            if peer.certificate_environment not in (None, self.environment):
                return _reason(403, "BadCertificateEnvironment")
            return peer.certificate_topics, {
                "auth": "certificate",
                "certificate_subject": peer.certificate_subject,
            }
        scheme, _, token = headers.get("authorization", [""])[0].partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _reason(403, "MissingProviderToken")
        checked = peer.verified.get(token)
        if checked is None:
            try:
                header = jwt.get_unverified_header(token)
            except jwt.InvalidTokenError:
                return _reason(403, "InvalidProviderToken")
            kid = header.get("kid")
            with self._lock:
                key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None or header.get("alg") != "ES256":
                return _reason(403, "InvalidProviderToken")
            try:
                claims = jwt.decode(
                    token,
                    key.public_key,
                    algorithms=["ES256"],
                    options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
                )
            except jwt.InvalidTokenError:
                return _reason(403, "InvalidProviderToken")
            iat = claims.get("iat")
            if claims.get("iss") != key.team_id or not isinstance(iat, int):
                return _reason(403, "InvalidProviderToken")
            checked = (str(kid), iat)
            peer.verified[token] = checked
        kid, iat = checked
        with self._lock:
            key = self._keys[kid]
        now = self._clock()
        if iat > now + 60:
            return _reason(403, "InvalidProviderToken")
        if now - iat > TOKEN_MAX_AGE:
            return _reason(403, "ExpiredProviderToken")
        if peer.team_id is not None and peer.team_id != key.team_id:
            return _reason(403, "InvalidProviderToken")
        peer.team_id = key.team_id
        previous = peer.current.get(kid)
        if previous is None:
            peer.current[kid] = (token, now)
        elif previous[0] != token:
            if now - previous[1] < TOKEN_UPDATE_INTERVAL:
                return _reason(429, "TooManyProviderTokenUpdates")
            peer.current[kid] = (token, now)
        return key.topics, {
            "auth": "token",
            "key_id": kid,
            "team_id": key.team_id,
            "token_issued_at": iat,
        }


class _H2Connection:
    """One HTTP/2 connection: reads frames, answers streams. Only this thread touches the
    socket; answers delayed by a fault come back through a queue and a wake-up socket."""

    def __init__(self, standin: ApnsStandIn, sock: ssl.SSLSocket, peer: _Peer) -> None:
        self._standin = standin
        self._sock = sock
        self._peer = peer
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self._streams: dict[int, tuple[list[tuple[str, str]], bytearray]] = {}
        self._later: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()
        self._open = True

    def run(self) -> None:
        self._h2.initiate_connection()
        self._h2.update_settings(
            {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS}
        )
        self._flush()
        selector = selectors.DefaultSelector()
        selector.register(self._sock, selectors.EVENT_READ)
        selector.register(self._wake_read, selectors.EVENT_READ)
        try:
            while self._open:
                for key, _ in selector.select(timeout=1.0):
                    if key.fileobj is self._wake_read:
                        self._wake_read.recv(4096)
                        self._answer_later()
                    else:
                        self._read()
                    if not self._open:
                        break
        finally:
            selector.close()
            self._wake_read.close()
            self._wake_write.close()

    def close(self) -> None:
        """End the connection from another thread (the stand-in stopping)."""
        self._open = False
        with contextlib.suppress(OSError):
            self._wake_write.send(b"!")

    def _read(self) -> None:
        data = self._sock.recv(65536)
        while self._sock.pending():
            data += self._sock.recv(self._sock.pending())
        if not data:
            self._open = False
            return
        for event in self._h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self._streams[event.stream_id] = (list(event.headers), bytearray())  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                stream = self._streams.get(event.stream_id)
                if stream is not None and len(stream[1]) + len(event.data) <= MAX_BODY:
                    stream[1].extend(event.data)
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self._streams.pop(event.stream_id, None)
                if stream is not None:
                    self._handle(event.stream_id, *stream)
            elif isinstance(event, h2.events.StreamReset):
                self._streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._open = False
            if not self._open:
                return
        self._flush()

    def _handle(self, stream_id: int, raw_headers: list[tuple[str, str]], body: bytearray) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in raw_headers:
            headers.setdefault(name.lower(), []).append(value)
        method, path = headers.get(":method", [""])[0], headers.get(":path", [""])[0]
        control = self._standin.control(method, path, bytes(body))
        if control is not None:
            self._send(stream_id, control)
            return
        decision = self._standin.faults.decide()
        answer: Answer | object
        if decision.fault is Fault.FAIL:
            reason = {429: "TooManyRequests", 500: "InternalServerError"}.get(
                decision.status, "ServiceUnavailable"
            )
            retry = decision.retry_after
            extra = [("retry-after", f"{retry:g}")] if retry is not None else []
            answer = _reason(decision.status, reason, *extra)
        else:
            answer, delivery = self._standin.answer(self._peer, method, path, headers, bytes(body))
            if delivery is not None:
                self._standin.deliveries.add({**delivery, "dropped": decision.fault is Fault.DROP})
            if decision.fault is Fault.DROP:
                answer = _DROP
        if decision.delay:
            timer = threading.Timer(decision.delay, self._deliver_later, (stream_id, answer))
            timer.daemon = True
            timer.start()
        elif answer is _DROP:
            self._flush()  # the answers of the streams before it are not lost with it
            self._open = False
        elif isinstance(answer, Answer):
            self._send(stream_id, answer)

    def _deliver_later(self, stream_id: int, answer: object) -> None:
        self._later.put((stream_id, answer))
        with contextlib.suppress(OSError):
            self._wake_write.send(b"!")

    def _answer_later(self) -> None:
        while not self._later.empty():
            stream_id, answer = self._later.get()
            if answer is _DROP:
                self._flush()
                self._open = False
                return
            self._send(stream_id, answer)
        self._flush()

    def _send(self, stream_id: int, answer: Answer) -> None:
        headers = [(":status", str(answer.status)), *answer.headers]
        if answer.body:
            headers.append(("content-length", str(len(answer.body))))
        try:
            self._h2.send_headers(stream_id, headers, end_stream=not answer.body)
            if answer.body:
                self._h2.send_data(stream_id, answer.body, end_stream=True)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return  # the client gave up on the stream (a timeout, a reset)

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._sock.sendall(data)


class _Closable:
    """An HTTP/1.1 connection, closed by shutting its socket down."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


class _ControlOverHttp1(BaseHTTPRequestHandler):
    """The control API over HTTP/1.1 (ALPN http/1.1, for curl); APNs itself needs HTTP/2."""

    protocol_version = "HTTP/1.1"
    server: Any

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length)) if length.isdigit() and int(length) <= MAX_BODY else b""
        answer = self.server.control(self.command, self.path, body)
        if answer is None:
            answer = Answer.json(505, {"reason": "APNs requires HTTP/2"})
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        log.debug(format, *args)


def _reason(status: int, reason: str, *headers: tuple[str, str]) -> Answer:
    return Answer.json(status, {"reason": reason}, *headers)


def _linger(raw: socket.socket) -> None:
    """Close a connection whose handshake failed (TLS 1.3: after the client finished its
    part, and maybe wrote its request) only once the client has read the alert and closed:
    closing earlier would have the client's write fail on the end of the stream or a reset,
    and it would not learn why."""
    with contextlib.suppress(OSError):
        raw.settimeout(2)
        while raw.recv(65536):
            pass
    _close(raw)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
