"""What operation costs, accrued as it happens, at catalog prices.

Compute is billed per second of provisioned capacity (from the moment a replica is
requested until it is released, cold start included: clouds bill a booting instance),
storage per GB-month for every copy, cache and checkpoint while it exists, and network per
GB actually moved across regions or to the internet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_cloudplan.model.catalog import Catalog, StorageKind
from airflow_cloudplan.simulate.config import HOURS_PER_MONTH
from airflow_cloudplan.simulate.facts import (
    StageFacts,
    egress_usd_per_gb,
    internet_usd_per_gb,
    storage_usd_per_gb_month,
)

SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0


@dataclass
class CostMeter:
    """USD accrued over a simulated window, by what was paid for."""

    catalog: Catalog
    compute_usd: float = 0.0
    storage_usd: float = 0.0
    egress_usd: float = 0.0
    replica_seconds: float = 0.0
    egress_gb: float = 0.0
    internet_gb: float = 0.0
    notes: list[str] = field(default_factory=list)

    def compute(self, seconds: float, usd_per_s: float) -> None:
        """A replica was provisioned for ``seconds``."""
        if seconds > 0:
            self.replica_seconds += seconds
            self.compute_usd += seconds * usd_per_s

    def transfer(self, gb: float, src: str, dst: str) -> None:
        """``gb`` moved from region ``src`` to ``dst`` (free inside a region)."""
        if gb > 0 and src != dst:
            self.egress_gb += gb
            self.egress_usd += gb * egress_usd_per_gb(self.catalog, src, dst)

    def internet(self, gb: float, region: str) -> None:
        """``gb`` sent to clients on the internet."""
        if gb > 0:
            self.internet_gb += gb
            self.egress_usd += gb * internet_usd_per_gb(self.catalog, region)

    def store(self, gb: float, kind: StorageKind, region: str, seconds: float) -> None:
        """``gb`` kept in ``region`` for ``seconds``."""
        if gb > 0 and seconds > 0:
            price = storage_usd_per_gb_month(self.catalog, kind, region)
            self.storage_usd += gb * price * seconds / SECONDS_PER_MONTH

    def reads(self, gb: float, block_mb: float) -> None:
        """Object GET requests for ``gb`` read in blocks of ``block_mb``."""
        if gb > 0:
            obj = self.catalog.storage_class(StorageKind.OBJECT)
            self.storage_usd += gb * 1000.0 / block_mb / 1000.0 * obj.usd_per_1k_reads

    def merge(self, other: CostMeter) -> None:
        """Add another meter's totals (stages of one plan)."""
        self.compute_usd += other.compute_usd
        self.storage_usd += other.storage_usd
        self.egress_usd += other.egress_usd
        self.replica_seconds += other.replica_seconds
        self.egress_gb += other.egress_gb
        self.internet_gb += other.internet_gb
        self.notes.extend(other.notes)


def bill_copies(facts: StageFacts, meter: CostMeter, horizon_s: float,
                amortisation_months: float) -> None:
    """Copies, caches and partitions kept in the stage's region over the window.

    Storage is paid for the whole window; a replica's sync traffic (growth) crosses
    regions as it happens, and its one-off initial copy is spread over
    ``amortisation_months`` (an accounting convention, stated in the report).
    """
    months = horizon_s / SECONDS_PER_MONTH
    for src in facts.sources:
        meter.store(src.copy_gb, src.copy_kind, facts.region, horizon_s)
        moved = src.sync_gb_per_day * horizon_s / 86400.0
        moved += src.one_off_copy_gb * months / amortisation_months
        meter.transfer(moved, src.home_region, facts.region)


__all__ = ["SECONDS_PER_MONTH", "CostMeter", "bill_copies"]
