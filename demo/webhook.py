"""Sign and send one Cognigy.AI webhook as the demo scripts do (Standard Webhooks).

As a module: ``send(relay, session, msg_id, version, context)`` answers (status, body).
As a script (demo/relay.sh): ``python demo/webhook.py RELAY SESSION STATUS ID VERSION
KEY=VALUE...`` prints the answer and fails unless it is STATUS. The secret is
``TENANTOPS_WEBHOOK_SECRET`` (a demo one; never a real one).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook


def send(
    relay: str, session: str, msg_id: str, version: int, context: dict[str, Any]
) -> tuple[int, str]:
    """POST one signed webhook for ``session`` to ``relay``; its status and body."""
    body = json.dumps(
        {
            "sessionId": session,
            "userId": "u-42",
            "nodeName": "order_lookup",
            "context": context,
            "version": version,
            "timestamp": int(time.time()),
        }
    )
    now = datetime.now(UTC)
    signature = Webhook(os.environ["TENANTOPS_WEBHOOK_SECRET"]).sign(msg_id, now, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    request = urllib.request.Request(relay + "/webhook", data=body.encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


if __name__ == "__main__":
    relay, session, expected, msg_id, version, *pairs = sys.argv[1:]
    context = dict(p.split("=", 1) for p in pairs)
    status, answer = send(relay, session, msg_id, int(version), context)
    print(f"webhook-id {msg_id}, version {version} -> {status} {answer}")
    sys.exit(0 if str(status) == expected else f"expected {expected}, got {status}")
