"""A local fake of the parts of Stripe's API the Stripe provider calls, on a real HTTP socket.

It follows Stripe's documented behaviour closely enough to test an integration against it, never
the internet: form-encoded bodies (``metadata[key]``), ``Authorization: Bearer`` checked,
``Idempotency-Key`` replay (same key and parameters: the first answer again, with
``Idempotent-Replayed: true``; same key, other parameters: 409 ``idempotency_error``), Stripe's
test payment methods (``pm_card_visa`` authorises, ``pm_card_chargeDeclined`` and
``pm_card_chargeDeclinedInsufficientFunds`` answer 402 card errors,
``pm_card_authenticationRequired`` needs 3-D Secure), manual capture with
``amount_to_capture`` (the rest released unless ``final_capture=false`` on a multicapture
intent), cancel, refunds limited to what was captured and not yet refunded.

Response bodies are the recorded fixtures in tests/fakes/samples (Stripe's own API-reference
fixtures, see the README there) with ids, amounts and statuses changed. ``mode`` switches the server to
answer 500, to hang, or to answer something that is not JSON, to test unavailability.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of one recorded Stripe fixture (tests/fakes/samples/README.md)."""
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``metadata[order]=1`` → ``{"metadata": {"order": "1"}}`` (Stripe's form encoding)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _id(prefix: str) -> str:
    return f"{prefix}_3Fake{secrets.token_hex(8)}"


def _error(status: int, type_: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": type_, "message": message, **extra}}


TEST_METHODS = {"pm_card_visa", "pm_card_mastercard", "pm_card_amex"}
DECLINES = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("insufficient_funds", "Your card has insufficient funds."),
}
THREE_D_SECURE = {"pm_card_authenticationRequired", "pm_card_threeDSecure2Required"}
CANCELABLE = {"requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"}


class FakeStripe:
    """State of the fake account; the HTTP handler calls ``handle``. Thread-safe (one lock)."""

    def __init__(self, api_key: str = "sk_test_fake_openoms") -> None:
        self.api_key = api_key
        self.mode = "ok"  # ok | error500 | hang | garbage | ratelimit
        self.hang_seconds = 3.0
        self.lock = threading.Lock()
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, dict[str, Any], int, dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []  # every request: method, path, params, headers

    # -- HTTP entry

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        params = unflatten(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        with self.lock:
            self.requests.append({"method": method, "path": path, "params": params, "headers": headers})
            mode = self.mode
        if mode == "hang":
            time.sleep(self.hang_seconds)
        if mode in ("error500", "hang"):
            status, payload = _error(500, "api_error", "Something went wrong on Stripe's end.")
            return status, {}, json.dumps(payload).encode()
        if mode == "ratelimit":
            status, payload = _error(
                429, "invalid_request_error", "Too many requests hit the API too quickly.", code="rate_limit"
            )
            return status, {}, json.dumps(payload).encode()
        if mode == "garbage":
            return 200, {"Content-Type": "text/html"}, b"<html>gateway timeout</html>"
        auth = headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            status, payload = _error(401, "invalid_request_error", "Invalid API Key provided: sk_****")
            return status, {}, json.dumps(payload).encode()
        key = headers.get("idempotency-key")
        with self.lock:
            if method == "POST" and key:
                seen = self.idempotency.get(key)
                if seen is not None:
                    first_path, first_params, status, payload = seen
                    if (first_path, first_params) != (path, params):
                        status, payload = _error(
                            409,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            "first used with. Try using a key other than '" + key + "' if you meant to execute "
                            "a different request.",
                        )
                        return status, {}, json.dumps(payload).encode()
                    return status, {"Idempotent-Replayed": "true"}, json.dumps(payload).encode()
            status, payload = self._route(method, path, params)
            if method == "POST" and key and status != 500:
                self.idempotency[key] = (path, params, status, copy.deepcopy(payload))
        return status, {"Request-Id": _id("req")}, json.dumps(payload).encode()

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return self.create_intent(params)
        if len(parts) == 3 and parts[:2] == ["v1", "payment_intents"] and method == "GET":
            intent = self.payment_intents.get(parts[2])
            return (200, copy.deepcopy(intent)) if intent else self._missing("payment_intent", parts[2])
        if len(parts) == 4 and parts[:2] == ["v1", "payment_intents"] and method == "POST":
            intent = self.payment_intents.get(parts[2])
            if intent is None:
                return self._missing("payment_intent", parts[2])
            if parts[3] == "capture":
                return self.capture(intent, params)
            if parts[3] == "cancel":
                return self.cancel(intent, params)
        if method == "POST" and parts == ["v1", "refunds"]:
            return self.create_refund(params)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _missing(kind: str, ident: str) -> tuple[int, dict[str, Any]]:
        return _error(404, "invalid_request_error", f"No such {kind}: '{ident}'", code="resource_missing", param="id")

    # -- PaymentIntents

    def create_intent(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            amount = int(p["amount"])
        except (KeyError, ValueError):
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: amount.",
                code="parameter_missing",
                param="amount",
            )
        if amount < 1:
            return _error(
                400, "invalid_request_error", "Amount must be at least 1.", code="amount_too_small", param="amount"
            )
        if amount > 99_999_999:
            return _error(
                400,
                "invalid_request_error",
                "Amount must be no more than 99999999.",
                code="amount_too_large",
                param="amount",
            )
        method = p.get("payment_method", "")
        if method not in TEST_METHODS and method not in DECLINES and method not in THREE_D_SECURE:
            return _error(
                400,
                "invalid_request_error",
                f"No such PaymentMethod: '{method}'",
                code="resource_missing",
                param="payment_method",
            )
        intent = sample("stripe_payment_intent.json")
        pid = _id("pi")
        multicapture = p.get("payment_method_options", {}).get("card", {}).get("request_multicapture")
        intent.update(
            id=pid,
            amount=amount,
            currency=p.get("currency", "usd"),
            capture_method=p.get("capture_method", "automatic"),
            client_secret=f"{pid}_secret_{secrets.token_hex(8)}",
            created=int(time.time()),
            canceled_at=None,
            description=p.get("description"),
            receipt_email=p.get("receipt_email"),
            metadata=p.get("metadata", {}),
            payment_method=method,
            payment_method_options={"card": {"request_multicapture": multicapture}} if multicapture else {},
        )
        charge = _id("ch")
        if method in DECLINES:
            decline, message = DECLINES[method]
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline,
                "message": message,
                "charge": charge,
            }
            intent.update(
                status="requires_payment_method", latest_charge=charge, last_payment_error=error, payment_method=None
            )
            self.payment_intents[pid] = intent
            return 402, {"error": {**error, "payment_intent": copy.deepcopy(intent)}}
        if method in THREE_D_SECURE:
            intent.update(status="requires_action", next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {}})
        elif p.get("capture_method") == "manual":
            intent.update(status="requires_capture", amount_capturable=amount, latest_charge=charge)
        else:
            intent.update(status="succeeded", amount_received=amount, latest_charge=charge)
        self.payment_intents[pid] = intent
        return 200, copy.deepcopy(intent)

    def capture(self, intent: dict[str, Any], p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if intent["status"] != "requires_capture":
            return _error(
                400,
                "invalid_request_error",
                f"This PaymentIntent could not be captured because it has a status of {intent['status']}. Only a "
                "PaymentIntent with one of the following statuses may be captured: requires_capture.",
                code="payment_intent_unexpected_state",
                payment_intent=copy.deepcopy(intent),
            )
        amount = int(p.get("amount_to_capture", intent["amount_capturable"]))
        if amount < 1 or amount > intent["amount_capturable"]:
            return _error(
                400,
                "invalid_request_error",
                "The amount_to_capture must be less than or equal to the amount_capturable.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        final = p.get("final_capture", "true") != "false"
        multicapture = intent["payment_method_options"].get("card", {}).get("request_multicapture") == "if_available"
        if not final and not multicapture:
            return _error(
                400,
                "invalid_request_error",
                "final_capture=false is only allowed on a PaymentIntent with multicapture available.",
                param="final_capture",
            )
        intent["amount_received"] += amount
        if final:
            intent.update(amount_capturable=0, status="succeeded")
        else:
            intent["amount_capturable"] -= amount
            if intent["amount_capturable"] == 0:
                intent["status"] = "succeeded"
        return 200, copy.deepcopy(intent)

    def cancel(self, intent: dict[str, Any], p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if intent["status"] not in CANCELABLE:
            return _error(
                400,
                "invalid_request_error",
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
                code="payment_intent_unexpected_state",
                payment_intent=copy.deepcopy(intent),
            )
        intent.update(
            status="canceled",
            amount_capturable=0,
            canceled_at=int(time.time()),
            cancellation_reason=p.get("cancellation_reason"),
        )
        return 200, copy.deepcopy(intent)

    # -- Refunds

    def refunded(self, pid: str) -> int:
        return sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == pid and r["status"] != "failed")

    def create_refund(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        pid = p.get("payment_intent", "")
        intent = self.payment_intents.get(pid)
        if intent is None:
            return _error(
                400,
                "invalid_request_error",
                f"No such payment_intent: '{pid}'",
                code="resource_missing",
                param="payment_intent",
            )
        received = intent["amount_received"]
        if received == 0:
            return _error(
                400,
                "invalid_request_error",
                f"This PaymentIntent ({pid}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        left = received - self.refunded(pid)
        if left <= 0:
            return _error(
                400,
                "invalid_request_error",
                f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = int(p.get("amount", left))
        if amount > left:
            return _error(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        refund = sample("stripe_refund.json")
        refund.update(
            id=_id("re"),
            amount=amount,
            charge=intent["latest_charge"],
            currency=intent["currency"],
            created=int(time.time()),
            payment_intent=pid,
            reason=p.get("reason"),
            metadata=p.get("metadata", {}),
            status="succeeded",
        )
        self.refunds[refund["id"]] = refund
        return 200, copy.deepcopy(refund)

    # -- helpers for tests

    def posts(self, path_part: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST" and path_part in r["path"]]


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = fake.handle(method, self.path, headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


@contextmanager
def running_fake_stripe(api_key: str = "sk_test_fake_openoms") -> Iterator[tuple[FakeStripe, str]]:
    """Start the fake on 127.0.0.1 (a free port) in a thread; yields (state, base URL)."""
    fake = FakeStripe(api_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-stripe", daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
