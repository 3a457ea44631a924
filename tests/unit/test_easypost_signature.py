"""EasyPost's own webhook signature (``X-Hmac-Signature: hmac-sha256-hex=<hex>``): the raw body
keyed with the NFKD-normalised secret, checked against an independent HMAC computation."""

from __future__ import annotations

import hashlib
import hmac
import subprocess

import pytest

from openoms.adapters.carriers.tracking_inbound import (
    SignatureError,
    SignatureFailure,
    easypost_signature,
    verify_easypost_signature,
)

BODY = b'{"description":"tracker.updated","result":{"object":"Tracker"}}'


def test_matches_openssl_for_an_ascii_secret() -> None:
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", "whsec_easy"], input=BODY, capture_output=True, check=True
    ).stdout.decode()
    assert easypost_signature(BODY, "whsec_easy") == "hmac-sha256-hex=" + out.strip().split("= ")[-1]


def test_the_secret_is_normalised_to_nfkd_before_keying() -> None:
    composed, decomposed = "s\u00e9cret\ufb01", "se\u0301cretfi"  # é and the "ﬁ" ligature
    expected = "hmac-sha256-hex=" + hmac.new("se\u0301cretfi".encode(), BODY, hashlib.sha256).hexdigest()
    assert easypost_signature(BODY, composed) == easypost_signature(BODY, decomposed) == expected
    assert (
        easypost_signature(BODY, composed)
        != "hmac-sha256-hex=" + hmac.new(composed.encode(), BODY, hashlib.sha256).hexdigest()
    )


def test_a_good_signature_passes_with_any_configured_secret() -> None:
    header = easypost_signature(BODY, "new")
    verify_easypost_signature(BODY, header, ["old", "new"])
    verify_easypost_signature(BODY, header.upper().replace("HMAC-SHA256-HEX=", "hmac-sha256-hex="), "new")


@pytest.mark.parametrize(
    ("header", "body", "reason"),
    [
        (None, BODY, SignatureFailure.MISSING_HEADER),
        ("  ", BODY, SignatureFailure.MISSING_HEADER),
        ("deadbeef", BODY, SignatureFailure.MALFORMED_HEADER),
        ("hmac-sha256-hex=xyz", BODY, SignatureFailure.MALFORMED_HEADER),
        ("sha256=" + "0" * 64, BODY, SignatureFailure.MALFORMED_HEADER),
        ("hmac-sha256-hex=" + "0" * 64, BODY, SignatureFailure.MISMATCH),
        ("SIGNED", BODY + b" ", SignatureFailure.MISMATCH),  # the body changed after signing
        ("SIGNED", BODY.replace(b"updated", b"created"), SignatureFailure.MISMATCH),
    ],
)
def test_bad_signatures_are_refused_with_the_reason(header: str | None, body: bytes, reason: SignatureFailure) -> None:
    if header == "SIGNED":
        header = easypost_signature(BODY, "whsec_easy")
    with pytest.raises(SignatureError) as caught:
        verify_easypost_signature(body, header, ["whsec_easy"])
    assert caught.value.reason is reason


def test_the_wrong_secret_is_a_mismatch_and_no_secret_is_a_setup_error() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_easypost_signature(BODY, easypost_signature(BODY, "someone-else"), "whsec_easy")
    assert caught.value.reason is SignatureFailure.MISMATCH
    with pytest.raises(ValueError):
        verify_easypost_signature(BODY, easypost_signature(BODY, "x"), [])
