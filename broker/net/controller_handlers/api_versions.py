"""ApiVersions (18) on the CONTROLLER listener: the APIs of ``CONTROLLER_REGISTRY``."""

from __future__ import annotations

from broker.net.handlers.api_versions import API_VERSIONS, handle
from broker.net.registry import ApiSpec

SPECS = [ApiSpec(API_VERSIONS, "ApiVersions", 0, 4, handle)]
