"""Real servers on 127.0.0.1 for the notification tests: SMTP (aiosmtpd) and an HTTP receiver.

Both listen on a free port picked at start, and are stopped by the fixture
that started them. ``Receiver.status`` sets the HTTP answer per path prefix
(``{"/teams": 500}``) and ``Receiver.delay`` makes it slow (timeouts).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler keeping every message (and authenticator recording logins)."""

    def __init__(self, password: str | None = None):
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.logins: list[str] = []
        self.password = password

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"fleetsam" and auth_data.password == (self.password or "").encode()
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def smtp_server(mailbox: Mailbox, port: int | None = None, **kw) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port or free_port(), **kw)
    controller.start()
    return controller


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return context


class Receiver:
    """An HTTP server in a thread recording every POST answered 200: ``(path, headers, json body)``.

    ``seen`` records every request of any method and answer as ``(method, path, headers)``;
    ``redirect`` answers a path prefix with a redirect (``{"/hook": (302, "http://127.0.0.2:8000/x")}``).
    """

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.requests: list[tuple[str, dict, dict]] = []
        self.seen: list[tuple[str, str, dict]] = []
        self.status: dict[str, int] = {}
        self.redirect: dict[str, tuple[int, str]] = {}
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.seen.append(("POST", self.path, dict(self.headers)))
                if receiver.delay:
                    time.sleep(receiver.delay)
                moved = next((r for p, r in receiver.redirect.items() if self.path.startswith(p)), None)
                if moved:
                    self.send_response(moved[0])
                    self.send_header("Location", moved[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                code = next((c for p, c in receiver.status.items() if self.path.startswith(p)), 200)
                if code == 200:
                    receiver.requests.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self):
                receiver.seen.append(("GET", self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def received(self, prefix: str) -> list[dict]:
        return [body for path, _, body in self.requests if path.startswith(prefix)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
