"""Pick the Backend that ``api.flavor`` names: the contract API or Cognigy.AI v2.0.

Each flavour's client is imported only when chosen, so a run pays for one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantops.backends.base import Backend

if TYPE_CHECKING:
    from tenantops.backends.pacing import Pacer
    from tenantops.config import ResolvedApi

__all__ = ["open_backend"]


def open_backend(
    api: ResolvedApi, *, max_connections: int = 8, pacer: Pacer | None = None
) -> Backend:
    """A backend for the resolved ``api:`` settings; close it with ``aclose``.

    ``pacer`` paces every call instead of one built from ``api.rate_limit``, so that the
    caller can read how much of the quota the run used.
    """
    if api.flavor == "cognigy-v2":
        from tenantops.backends.cognigy_v2.backend import CognigyV2Backend
        from tenantops.backends.cognigy_v2.http import V2Http

        http = V2Http(
            api.base_url,
            api_key=api.api_key,
            client_id=api.client_id,
            client_secret=api.client_secret,
            token_url=api.token_url,
            rate_limit=api.rate_limit,
            pacer=pacer,
            max_connections=max_connections,
        )
        return CognigyV2Backend(
            http, keep_snapshots=api.keep_snapshots, task_timeout=api.task_timeout
        )
    from tenantops.backends.contract.client import PlatformClient

    return PlatformClient.from_settings(api, max_connections=max_connections, pacer=pacer)
