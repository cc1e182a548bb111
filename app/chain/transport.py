"""How the app talks to a node: a raw keep-alive JSON-RPC for reads, and web3.py for everything else.

Both turn a node that cannot be reached, or answers too slowly, into ChainUnavailableError at once, so
a page can answer 503 instead of waiting through retries.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import logging
import re
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from web3 import HTTPProvider, Web3

from app.chain.errors import ChainUnavailableError, NodeError

_KEY_LIKE = re.compile(r"[A-Za-z0-9_\-.~+=]{16,}")
"""A path segment that looks like an API key (Infura's /v3/<32 hex>, Alchemy's /v2/<key>, a JWT)."""


def redacted_url(url: str) -> str:
    """The URL with its user, password, query values and key-like path segments replaced by ***.

    The one way a node URL goes into an exception message, a log line or an answer: BILLCHAIN_RPC_URL
    may carry credentials (https://user:pass@node, ?apikey=..., /v3/<project key>).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not parts.hostname:
        return "***"
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = ("***@" if parts.username or parts.password else "") + host + (f":{port}" if port else "")
    path = "/".join("***" if _KEY_LIKE.fullmatch(segment) else segment for segment in parts.path.split("/"))
    query = "&".join(
        f"{name}=***" if sep else "***"
        for name, sep, _ in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, path, query, ""))


class _RedactNodeURLs(logging.Filter):
    """Rewrites log lines of web3 and urllib3 that quote a node URL (web3 logs the whole URI at DEBUG,
    urllib3 the path and query) into their redacted form."""

    def __init__(self) -> None:
        super().__init__()
        self.replacements: dict[str, str] = {}

    def add(self, url: str) -> None:
        parts = urlsplit(url)
        shown = urlsplit(redacted_url(url))
        self.replacements[url] = redacted_url(url)
        if parts.path or parts.query:
            raw_tail = parts.path + (f"?{parts.query}" if parts.query else "")
            self.replacements.setdefault(raw_tail, shown.path + (f"?{shown.query}" if shown.query else ""))

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.replacements:
            return True
        message = original = record.getMessage()
        for raw, shown in self.replacements.items():
            if raw not in ("", "/"):
                message = message.replace(raw, shown)
        if message != original:
            record.msg, record.args = message, ()
        return True


_log_filter = _RedactNodeURLs()
for _name in ("web3.providers.HTTPProvider", "web3._utils.http_session_manager", "urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(_log_filter)


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
        answer = self._post(body)
        if "error" in answer:
            raise NodeError(str(answer["error"]))
        return answer["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of several calls sent as one JSON-RPC batch (one round trip), in the order given.

        A node may answer a batch's members in any order and evaluates each on its own, so callers that
        need one state for all of them pin a block number in each call. NodeError if any member failed.
        """
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]  # unique in this process (other threads draw too)
        members = [
            {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
            for id_, (method, params) in zip(ids, calls, strict=True)
        ]
        answers = self._post(json.dumps(members).encode())
        if not isinstance(answers, list):  # a node without batch support answers one error object
            raise NodeError(str(answers.get("error", answers)))
        by_id = {a.get("id"): a for a in answers}
        results = []
        for id_ in ids:
            answer = by_id.get(id_)
            if answer is None:
                raise NodeError(f"batch answer without id {id_}")
            if "error" in answer:
                raise NodeError(str(answer["error"]))
            results.append(answer["result"])
        return results

    def _post(self, body: bytes) -> Any:
        """POST one JSON-RPC body on this thread's keep-alive connection; the decoded JSON answer."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self.path, body, self.headers)
                response = conn.getresponse()
                payload = response.read()
            except self._retry_on as exc:  # a keep-alive connection the node closed: one fresh try
                self._drop(conn)
                if attempt == 2:
                    raise ChainUnavailableError(
                        f"chain node {redacted_url(self.url)} unreachable: {type(exc).__name__}"
                    ) from exc
                continue
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out: no retry, answer now
                self._drop(conn)
                raise ChainUnavailableError(
                    f"chain node {redacted_url(self.url)} unreachable: {type(exc).__name__}"
                ) from exc
            if response.status != 200:
                raise ChainUnavailableError(f"chain node {redacted_url(self.url)} answered HTTP {response.status}")
            return json.loads(payload)
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
    _log_filter.add(rpc_url)
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
