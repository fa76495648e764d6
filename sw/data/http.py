"""HTTP requests that end by a total deadline, however slowly the server answers.

``requests``' timeout bounds each socket operation: a server that sends one byte every half
second never trips it. :func:`session` mounts an adapter whose connections register
themselves while a :func:`deadline` is active; when it passes, a timer shuts their
sockets down, so the blocked read returns at once and the request fails with a
connection error the caller recognises by the expired deadline.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_ACTIVE = threading.local()   # .connections: those of the current thread's deadline


class _Watched:
    def request(self, *args, **kwargs):
        connections = getattr(_ACTIVE, "connections", None)
        if connections is not None:
            connections.append(self)
        return super().request(*args, **kwargs)


class _Connection(_Watched, HTTPConnection):
    pass


class _TlsConnection(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


POOLS = {"http": _Pool, "https": _TlsPool}


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = POOLS
        return manager


def session(base: requests.Session | None = None) -> requests.Session:
    """``base`` (or a new session) with the deadline adapter mounted for http and https."""
    result = base or requests.Session()
    for prefix in ("http://", "https://"):
        result.mount(prefix, _Adapter())
    return result


@contextmanager
def deadline(seconds: float):
    """Requests of this thread inside the block end by ``seconds`` from now; yields an
    event that is set when the deadline passed."""
    connections = []
    expired = threading.Event()

    def expire():
        expired.set()
        for connection in connections:
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass   # already closed

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    _ACTIVE.connections = connections
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()
        _ACTIVE.connections = None
