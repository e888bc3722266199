"""Webhook signatures per the Standard Webhooks convention, with the reference library.

webhook-id         the outbound message id: the same on every retry, so receivers drop duplicates
webhook-timestamp  seconds since the epoch at this attempt
webhook-signature  "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per valid secret
                   (two while a secret is being rotated), separated by spaces
"""

from __future__ import annotations

import base64
import os
from datetime import datetime

from standardwebhooks.webhooks import Webhook


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def signed_headers(secrets: list[str], message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    text = body.decode("utf-8")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(Webhook(s).sign(message_id, at, text) for s in secrets),
    }
