"""The `[websub]` section: WebSub (W3C Recommendation, 2018) in both directions.

feedhub is the hub of its own feeds (subscribers get each changed feed pushed to
them) and subscribes to the sources whose feeds name a hub of their own.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from feedhub.config.durations import Duration


class WebSubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    enabled: bool = False
    # An external hub to advertise and to ping on change, instead of feedhub's own.
    hub: str | None = None
    # Subscribe to the sources whose feeds advertise a hub (needs base_url reachable by it).
    subscribe: bool = True
    lease: Duration = timedelta(days=7)  # the lease granted by default, and asked of hubs
    max_lease: Duration = timedelta(days=30)
    allow_private_callbacks: bool = False
    max_subscriptions_per_host: int = Field(default=100, ge=1)
    max_delivery_attempts: int = Field(default=8, ge=1, le=50)

    @field_validator("hub")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an absolute http(s) URL; write the external hub's "
                'address, like "https://pubsubhubbub.appspot.com/", or remove the key'
            )
        return value
