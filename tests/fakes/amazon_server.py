"""A local stand-in for Amazon's Selling Partner API (Orders v0) and Login with Amazon, built
from Amazon's own published examples (../shared/samples), for tests that must never touch the
internet. It checks what the real service checks that matters here: the refresh-token grant,
the access token header, MarketplaceIds and LastUpdatedAfter, NextToken paging; and it can
throttle (429) like SP-API does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "Atza|fake-access-token"


class FakeAmazon:
    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []  # in LastUpdateDate order
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.page_size = 1
        self.throttle_after: int | None = None  # answer 429 after this many order-page calls
        self.order_page_calls = 0
        self.confirmations: list[tuple[str, dict[str, Any]]] = []
        self.refuse_confirmations = False
        self.requests: list[str] = []
        self.base_url = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any = None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _authorised(self) -> bool:
                if self.headers.get("x-amz-access-token") != TOKEN:
                    self._send(
                        403,
                        {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]},
                    )
                    return False
                return True

            def do_POST(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append(f"POST {url.path}")
                if url.path == "/auth/o2/token":
                    form = parse_qs(body.decode())
                    if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != ["Atzr|refresh"]:
                        self._send(400, {"error": "invalid_grant"})
                        return
                    self._send(200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600})
                    return
                if not self._authorised():
                    return
                parts = url.path.split("/")
                if len(parts) == 6 and parts[5] == "shipmentConfirmation":
                    if fake.refuse_confirmations:
                        self._send(400, {"errors": [{"code": "InvalidInput", "message": "Invalid order item id"}]})
                        return
                    fake.confirmations.append((parts[4], json.loads(body)))
                    self._send(204)
                    return
                self._send(404, {"errors": [{"code": "NotFound", "message": url.path}]})

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(f"GET {url.path}?{url.query}")
                if not self._authorised():
                    return
                if url.path == "/orders/v0/orders":
                    fake.order_page_calls += 1
                    if fake.throttle_after is not None and fake.order_page_calls > fake.throttle_after:
                        self._send(429, {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota"}]})
                        return
                    if "MarketplaceIds" not in q:
                        self._send(400, {"errors": [{"code": "InvalidInput", "message": "MarketplaceIds missing"}]})
                        return
                    start = int(q.get("NextToken", "0"))
                    if "NextToken" not in q:
                        after = q["LastUpdatedAfter"]
                        matching = [o for o in fake.orders if o["LastUpdateDate"] > after]
                        fake._window = matching  # type: ignore[attr-defined]
                    window: list[dict[str, Any]] = getattr(fake, "_window", [])
                    page = window[start : start + fake.page_size]
                    payload: dict[str, Any] = {"Orders": page}
                    if start + fake.page_size < len(window):
                        payload["NextToken"] = str(start + fake.page_size)
                    self._send(200, {"payload": payload})
                    return
                parts = url.path.split("/")
                if len(parts) == 6 and parts[5] == "orderItems":
                    self._send(
                        200, {"payload": {"AmazonOrderId": parts[4], "OrderItems": fake.items.get(parts[4], [])}}
                    )
                    return
                self._send(404, {"errors": [{"code": "NotFound", "message": url.path}]})

        return Handler


@contextmanager
def running() -> Iterator[FakeAmazon]:
    fake = FakeAmazon()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
