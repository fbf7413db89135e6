"""The companion's wire protocol, one definition for both ends: the device's client
(device/navigation/companion_client.py) and the server (companion_app/). Schema names, the
request-signing headers and the signature.

A signed request carries HEADERS; the signature is

    hex(HMAC-SHA256(key, "{METHOD}\\n{PATH}\\n{X-Ami-Timestamp as sent}\\n{X-Ami-Nonce}\\n{sha256_hex(body)}"))

keyed with the 32 bytes of the device's urlsafe-base64 secret (given once, at pairing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

HEALTH_SCHEMA = "ami-companion/1"
PLAN_REQUEST_SCHEMA = "ami-plan-request/1"
PLAN_RESPONSE_SCHEMA = "ami-plan-response/1"
DEVICE_HEADER, TIMESTAMP_HEADER = "X-Ami-Device", "X-Ami-Timestamp"
NONCE_HEADER, SIGNATURE_HEADER = "X-Ami-Nonce", "X-Ami-Signature"
HEADERS = (DEVICE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
SECRET_BYTES = 32


def secret_key(secret: str) -> bytes:
    """The HMAC key: the 32 bytes behind a urlsafe-base64 secret (padding optional); ValueError
    naming what is wrong otherwise."""
    try:
        key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"the secret is not urlsafe base64 ({e})") from e
    if len(key) != SECRET_BYTES:
        raise ValueError(f"the secret decodes to {len(key)} bytes, expected {SECRET_BYTES}")
    return key


def signature(key: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The hex signature of one request; `timestamp` is the exact text of its timestamp header."""
    message = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()
