"""tenantops: deploy NICE Cognigy.AI bot models across many tenants, declaratively.

The public API is small on purpose: the CLI is the product. Library users build desired
models with :func:`tenantops.config.fleet.build_fleet` and talk to the platform through
:class:`tenantops.backends.contract.client.PlatformClient`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from tenantops.errors import TenantOpsError

try:
    __version__ = version("tenantops")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["TenantOpsError", "__version__"]
