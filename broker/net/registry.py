"""The handler registry: which APIs and versions this broker serves.

It is the single source of truth for ApiVersions. A spec may advertise a lower minimum than it
serves (Produce advertises 0 but serves 3+, so librdkafka 2.0.2 keeps compressing; protocol
notes G2): requests below ``min_version`` close the connection, as Kafka does.

A handler whose request is done but whose answer must wait (an acks=all Produce waiting for
its ISR) returns ``Deferred``: the connection goes on to the next Produce meanwhile and still
answers in request order (``broker.net.connection``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


@dataclass(frozen=True, slots=True)
class Deferred:
    """An answer still to come: ``answer`` gives it (a frame, or None) once the request's
    effects are settled. The request itself is done (a Produce's batches are appended)."""

    answer: Awaitable[bytes | None]


# What a handler returns: a body for the kio encoder, a ready frame, frame parts (bytes and
# file regions for sendfile), None when the request gets no response (acks=0), or Deferred.
Response = Union[Mapping[str, Any], bytes, Sequence[Any], None, Deferred]  # noqa: UP007
Handler = Callable[["Context", Request], Awaitable[Response]]


@dataclass(frozen=True)
class ApiSpec:
    api_key: int
    name: str
    min_version: int
    max_version: int
    handler: Handler
    advertised_min: int | None = None

    def serves(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


class Registry:
    def __init__(self, specs: Iterable[ApiSpec]) -> None:
        self._specs: dict[int, ApiSpec] = {}
        for spec in specs:
            if spec.api_key in self._specs:
                raise ValueError(f"api_key {spec.api_key} registered twice")
            self._specs[spec.api_key] = spec

    def get(self, api_key: int) -> ApiSpec | None:
        return self._specs.get(api_key)

    def advertised(self) -> list[dict[str, int]]:
        """The ApiVersions ``api_keys`` list."""
        return [
            {
                "api_key": spec.api_key,
                "min_version": spec.min_version
                if spec.advertised_min is None
                else spec.advertised_min,
                "max_version": spec.max_version,
            }
            for spec in sorted(self._specs.values(), key=lambda s: s.api_key)
        ]
