"""One time limit for a whole network exchange with a notification server.

A socket timeout bounds each read, not the exchange: a server that answers a
byte every second (headers, body, SMTP replies, a TLS handshake) would hold
the run for as long as it likes. ``Deadline(seconds)`` shuts the exchange's
connections down when its time is up, whatever the call waiting on them;
``expired`` tells the caller why it failed. It watches each connection through
a duplicate of its descriptor taken when the TCP connection is made (before
TLS wraps it), so a shutdown reaches the connection in every layer and never
another socket that happens to reuse the number.
"""

from __future__ import annotations

import http.client
import smtplib
import socket
import ssl
import threading
import urllib.request


class Deadline:
    """Use as ``with Deadline(seconds) as deadline:``; pass it to the connections it bounds."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._watched: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched.clear()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._watched.append(socket.fromfd(sock.fileno(), sock.family, sock.type))
            if self.expired:
                _cut(self._watched[-1])
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._watched:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by its owner
        pass


def _watched(base: type[http.client.HTTPConnection], deadline: Deadline) -> type:
    class Watched(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = lambda *a, **kw: deadline.watch(socket.create_connection(*a, **kw))

    return Watched


class DeadlineHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self._connection = _watched(http.client.HTTPConnection, deadline)

    def http_open(self, req):
        return self.do_open(self._connection, req)


class DeadlineHTTPS(urllib.request.HTTPSHandler):
    """HTTPS with the channel's own TLS context (``ca_file``, ``verify``) and the deadline."""

    def __init__(self, deadline: Deadline, context: ssl.SSLContext):
        super().__init__(context=context)
        self._connection = _watched(http.client.HTTPSConnection, deadline)

    def https_open(self, req):
        return self.do_open(self._connection, req, context=self._context)


class DeadlineSMTP(smtplib.SMTP):
    deadline: Deadline

    def _get_socket(self, host, port, timeout):
        return self.deadline.watch(super()._get_socket(host, port, timeout))


class DeadlineSMTPSSL(smtplib.SMTP_SSL, DeadlineSMTP):
    """SMTP_SSL wraps the socket ``DeadlineSMTP`` made (and watched) in TLS (method order)."""


def smtp_client(ssl_context: ssl.SSLContext | None, host: str, deadline: Deadline,
                timeout: float) -> smtplib.SMTP:
    """An unconnected SMTP client for ``host`` (implicit TLS with ``ssl_context``) under ``deadline``."""
    client = (DeadlineSMTPSSL(timeout=timeout, context=ssl_context) if ssl_context
              else DeadlineSMTP(timeout=timeout))
    client.deadline = deadline
    client._host = host  # what STARTTLS and SMTP_SSL check the certificate against (connect() does not set it)
    return client
