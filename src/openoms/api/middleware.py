"""Raw ASGI guards that run before any parsing: body size and content type."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openoms.api.errors import error_body
from openoms.domain.errors import ErrorCode

_WRITES = {"POST", "PUT", "PATCH"}


class _TooLarge(Exception):
    pass


#: API paths that take a CSV file as the body (everything else is JSON).
CSV_PATHS = frozenset({"/api/v1/carrier-rates", "/api/v1/tracking/upload"})
#: X12 files are posted to /api/v1/channels/{code}/edi as application/edi-x12 (or text/plain).
EDI_TYPES = frozenset({"application/edi-x12", "text/plain"})


def _edi_path(path: str) -> bool:
    return path.startswith("/api/v1/channels/") and path.endswith("/edi") and path.count("/") == 5


class RequestGuard:
    """Refuse bodies over ``max_body_bytes`` (413) and non-JSON bodies on API writes (415)
    before the application reads them."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database
            where = "path" if "\x00" in scope["path"] else "query" if b"%00" in scope["query_string"] else None
            if where:
                msg = f"The request {where} contains a NUL character (%00); remove it"
                await _reply(send, 422, ErrorCode.VALIDATION_ERROR, msg, where)
                return
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and length.isascii() and length.isdigit() and int(length) > self.max:
            await _reply(send, 413, ErrorCode.BODY_TOO_LARGE, self._too_large_msg())
            return
        if scope["path"].startswith("/api/"):
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = (length not in (None, "0")) or "transfer-encoding" in headers
            csv_ok = ctype == "text/csv" and scope["path"] in CSV_PATHS
            csv_ok = csv_ok or (ctype in EDI_TYPES and _edi_path(scope["path"]))
            if has_body and not (ctype == "application/json" or ctype.endswith("+json") or csv_ok):
                await _reply(
                    send,
                    415,
                    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                    f"Content-Type {ctype or '(none)'} is not accepted; send application/json",
                )
                return
        received = 0
        started = False
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max:
                    too_large = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if too_large:
                # the app turned _TooLarge into an error of its own (FastAPI answers 400
                # "error parsing the body"); answer 413 instead and drop the app's reply
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _reply(send, 413, ErrorCode.BODY_TOO_LARGE, self._too_large_msg())
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reply(send, 413, ErrorCode.BODY_TOO_LARGE, self._too_large_msg())

    def _too_large_msg(self) -> str:
        return f"Request body is larger than {self.max} bytes; split it into smaller requests"


async def _reply(send: Send, status: int, code: ErrorCode, message: str, field: str = "body") -> None:
    body: dict[str, Any] = error_body(code, message, [{"field": field, "reason": message}])
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": raw})
