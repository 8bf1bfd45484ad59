"""Pluggable catalog providers: one entry point, one module per cloud.

A provider knows how to load its bundled, dated snapshot (offline, no credentials) and
how to refresh it from the cloud's own price API. Registration is a plain dictionary
write, so importing this module does no I/O; a provider module registers itself when
:mod:`airflow_cloudplan.catalog` is imported.

To add a provider, subclass :class:`CatalogProvider`, ship a snapshot under
``airflow_cloudplan/catalog/data/<name>.json`` and call :func:`register_provider`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, ClassVar

from airflow_cloudplan.errors import CatalogError, Problem, did_you_mean
from airflow_cloudplan.model.catalog import Catalog


class CatalogProvider(ABC):
    """One cloud's catalog: its bundled snapshot and how to refresh it."""

    name: ClassVar[str]

    @abstractmethod
    def load_snapshot(self) -> Catalog:
        """The bundled, dated snapshot shipped with the package (no network)."""

    @abstractmethod
    def refresh(
        self,
        base: Catalog,
        *,
        regions: Sequence[str] | None = None,
        client: Any = None,
        today: date | None = None,
    ) -> Catalog:
        """A new dated catalog whose instance prices come from the provider's price API.

        Everything the API does not cover (regions, zones, tiers, storage, egress,
        network) is kept from ``base``. ``client`` is an API client to use instead of a
        freshly built one (tests pass a stubbed client); ``today`` dates the result.
        """


_REGISTRY: dict[str, Callable[[], CatalogProvider]] = {}


def register_provider(name: str, factory: Callable[[], CatalogProvider]) -> None:
    """Make a provider available under ``name`` (later registrations replace earlier)."""
    _REGISTRY[name] = factory


def provider_names() -> tuple[str, ...]:
    """The names of all registered providers, sorted."""
    return tuple(sorted(_REGISTRY))


def get_provider(name: str) -> CatalogProvider:
    """The provider registered as ``name``; a "did you mean" error otherwise."""
    factory = _REGISTRY.get(name)
    if factory is None:
        known = provider_names()
        hint = did_you_mean(name, known) or f"use one of: {', '.join(known)}"
        raise CatalogError(
            f"unknown catalog provider '{name}'",
            [Problem(f"no provider named '{name}' is registered", path="provider", hint=hint)],
        )
    return factory()
