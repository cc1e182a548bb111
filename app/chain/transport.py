"""How the app talks to a node: a raw keep-alive JSON-RPC for reads, and web3.py for everything else.

Both turn a node that cannot be reached, or answers too slowly, into ChainUnavailableError at once, so
a page can answer 503 instead of waiting through retries.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from web3 import HTTPProvider, Web3

from app.chain.errors import ChainUnavailableError, NodeError


def uses_proxy(rpc_url: str) -> bool:
    """The raw path bypasses requests and so cannot honour proxies: with a proxy, reads go through web3."""
    return bool(requests.utils.get_environ_proxies(rpc_url))


class RawJsonRpc:
    """JSON-RPC over one keep-alive http.client connection per thread, for the verify hot path.

    requests' per-call machinery (preparing, adapters, hooks) cost more than Anvil's answer to an
    eth_call; this does the same POST with none of it. Used only when no proxy is configured.
    """

    _retry_on = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json"}
        if parts.username:
            token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self._local = threading.local()
        self._ids = itertools.count(1)

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = kind(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def call(self, method: str, params: list[Any]) -> Any:
        """The `result` of one call; ChainUnavailableError if the node cannot be reached or is too slow."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}).encode()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self.path, body, self.headers)
                response = conn.getresponse()
                payload = response.read()
            except self._retry_on as exc:  # a keep-alive connection the node closed: one fresh try
                self._drop(conn)
                if attempt == 2:
                    raise ChainUnavailableError(f"chain node {self.url} unreachable: {type(exc).__name__}") from exc
                continue
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out: no retry, answer now
                self._drop(conn)
                raise ChainUnavailableError(f"chain node {self.url} unreachable: {type(exc).__name__}") from exc
            if response.status != 200:
                raise ChainUnavailableError(f"chain node {self.url} answered HTTP {response.status}")
            answer = json.loads(payload)
            if "error" in answer:
                raise NodeError(str(answer["error"]))
            return answer["result"]
        raise AssertionError("unreachable")

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None


def make_web3(rpc_url: str, timeout: float) -> Web3:
    """A Web3 over one keep-alive session, no retries and no middleware.

    web3.py retries connection errors five times with back-off (~4 s) by default, which is exactly what
    a page waiting for a 503 must not do; the middlewares would add an eth_chainId round trip per
    transaction and ENS lookups we never use. The connect timeout is short: a local or LAN node either
    accepts at once or is down.
    """
    session = requests.Session()
    # requests re-reads the proxy environment on every call (a tenth of a verification); read it once.
    session.proxies = requests.utils.get_environ_proxies(rpc_url)
    session.trust_env = False
    provider = HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": (min(timeout, 2.0), timeout)},
        session=session,
        exception_retry_configuration=None,
    )
    return Web3(provider, middleware=[])
