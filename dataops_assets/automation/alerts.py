"""Failed-run alerts as JSON posted to a webhook (Slack-style incoming webhooks, Alertmanager, a chat bot).

Kept apart from the sensor so the message and the HTTP call are plain functions, tested without Dagster.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RunFailureAlert:
    """What an operator needs to find and re-run the failure."""

    run_id: str
    job_name: str
    error: str
    partition: str | None
    tags: Mapping[str, str]

    @property
    def text(self) -> str:
        where = f" (partition {self.partition})" if self.partition else ""
        return f"dataops: run {self.run_id} of job {self.job_name}{where} failed: {self.error}"

    def as_json(self) -> bytes:
        # `text` first: chat webhooks show it as the message, other receivers read the fields
        return json.dumps({"text": self.text, **asdict(self), "tags": dict(self.tags)}).encode()


def post_alert(url: str, alert: RunFailureAlert, timeout_seconds: float) -> int:
    """POST the alert; returns the HTTP status. Raises ``OSError`` (``URLError``) when it cannot be sent."""
    request = urllib.request.Request(
        url, data=alert.as_json(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
        return int(response.status)
