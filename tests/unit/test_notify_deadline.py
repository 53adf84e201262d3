"""A channel's ``timeout`` bounds the whole exchange, against real servers on 127.0.0.1 that answer a
byte at a time; and a webhook's ``ca_file`` is the one its certificate is checked against."""

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notify_servers import self_signed, server_tls
from sam_engine.findings.channels import DeliveryFailed, answered_whole, deliver
from sam_engine.findings.notify_config import load_notify_config

EVENT = {"event": "new", "at": "2026-06-30T01:00:00Z",
         "finding": {"id": "f-000000000001", "type": "prohibited", "severity": "high", "title": "X: prohibited",
                     "detail": "d", "first_seen": "t", "last_seen": "t", "hosts": ["web1"], "entitlements": [],
                     "state": "new"}}


class Dripping:
    """A TCP server sending ``head`` and then one byte of ``drip`` every half second, for ever."""

    def __init__(self, head: bytes, drip: bytes):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.head, self.drip, self.stopped = head, drip, threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        try:
            conn.sendall(self.head)
            while not self.stopped.is_set():
                conn.sendall(self.drip[:1])
                time.sleep(0.5)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopped.set()
        self.sock.close()


def channel(tmp_path, text: str):
    path = tmp_path / "n.yml"
    path.write_text(text)
    return load_notify_config(path).channels[0]


@pytest.mark.parametrize("head, drip", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b"x"),  # the body, a byte at a time
    (b"HTTP/1.1 200 OK\r\n", b"X"),  # the headers, never ending
])
def test_a_webhook_answering_a_byte_at_a_time_is_cut_at_the_timeout(tmp_path, head, drip):
    server = Dripping(head, drip)
    try:
        hook = channel(tmp_path, f"channels:\n  - {{type: webhook, url: 'http://127.0.0.1:{server.port}/x', timeout: 1}}\n")
        t0 = time.monotonic()
        with pytest.raises(DeliveryFailed, match="timed out after 1s"):
            deliver(hook, [EVENT], "now")
        assert time.monotonic() - t0 < 3
    finally:
        server.stop()


def test_an_smtp_server_answering_a_byte_at_a_time_is_cut_at_the_timeout(tmp_path):
    server = Dripping(b"", b"2" * 10000)
    try:
        mail = channel(tmp_path, f"channels:\n  - {{type: email, url: 'smtp://127.0.0.1:{server.port}', timeout: 1,\n"
                                 f"     from: f@example.com, to: t@example.com}}\n")
        t0 = time.monotonic()
        with pytest.raises(DeliveryFailed, match="timed out after 1s"):
            deliver(mail, [EVENT], "now")
        assert time.monotonic() - t0 < 3
    finally:
        server.stop()


def test_a_webhook_checks_its_certificate_against_its_ca_file(tmp_path):
    cert, key = self_signed(tmp_path)
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_tls(cert, key).wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/hook"
    try:
        deliver(channel(tmp_path, f"channels:\n  - {{type: webhook, url: '{url}', ca_file: '{cert}'}}\n"),
                [EVENT], "now")
        assert len(got) == 1
        with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            deliver(channel(tmp_path, f"channels:\n  - {{type: webhook, url: '{url}', timeout: 3}}\n"), [EVENT], "now")
        deliver(channel(tmp_path, f"channels:\n  - {{type: webhook, url: '{url}', verify: false}}\n"), [EVENT], "now")
        assert len(got) == 2
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("raw, whole", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
    (b"HTTP/1.1 204 No Content\r\n\r\n", True),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", False),  # cut inside the body
    (b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nbody", False),  # no framing: EOF may be the cut
    (b"HTTP/1.1 200 OK\r\n", False),  # cut inside the headers
])
def test_only_a_framed_answer_read_to_its_end_counts_as_whole_when_the_deadline_falls(raw, whole):
    """A webhook whose whole answer was read as its deadline fell is delivered, not sent again; an
    answer the deadline may have cut is a timeout (``answered_whole``, on http.client's own parse)."""
    server, client = socket.socketpair()
    with server, client:
        server.sendall(raw)
        server.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(client)
        response.begin()
        response.read(65536)
        assert answered_whole(response) is whole
