"""Knobs of a simulated fleet. Defaults give the product's shape: one report per drone-minute,
~0.75% of reports holding a bad peacescore, recurring citizens, planted patterns for analysts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BoundingBox", "Hotspot", "SimulationConfig"]


class BoundingBox(BaseModel):
    model_config = ConfigDict(frozen=True)

    lat_min: float = Field(default=48.80, ge=-90, le=90)
    lat_max: float = Field(default=48.92, ge=-90, le=90)
    lon_min: float = Field(default=2.25, ge=-180, le=180)
    lon_max: float = Field(default=2.42, ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> BoundingBox:
        if self.lat_min >= self.lat_max or self.lon_min >= self.lon_max:
            raise ValueError("bounding box needs lat_min < lat_max and lon_min < lon_max")
        return self


class Hotspot(BaseModel):
    """A place where agitation is `boost` times more likely (analysts should find it)."""

    model_config = ConfigDict(frozen=True)

    lat: float
    lon: float
    radius_km: float = Field(default=0.8, gt=0)
    boost: float = Field(default=5.0, ge=1)


class SimulationConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    drones: int = Field(default=50, ge=1, le=100_000)
    seed: int = 42
    bbox: BoundingBox = Field(default_factory=BoundingBox)
    population: int = Field(default=5_000, ge=10)
    bad_report_rate: float = Field(
        default=0.0075, ge=0, le=0.5, description="Share of reports holding at least one bad peacescore."
    )
    bad_threshold: int = Field(default=20, ge=1, le=100, description="A peacescore below this is bad.")
    mean_citizens: float = Field(
        default=4.0, gt=0, le=50, description="Citizens per report at average crowd."
    )
    mean_words: float = Field(default=6.0, gt=0, le=100)
    weekend_agitation: float = Field(
        default=1.6, gt=0, description="Bad-score rate at weekends relative to weekdays."
    )
    hotspots: list[Hotspot] | None = Field(
        default=None, description="None: one hotspot placed deterministically inside the box."
    )
    degraded_battery_drones: int = Field(default=1, ge=0, description="Drones whose battery wears out.")
    flaky_drones: int = Field(default=1, ge=0, description="Drones with outages (gaps in reports).")

    def resolved_hotspots(self) -> list[Hotspot]:
        if self.hotspots is not None:
            return self.hotspots
        b = self.bbox
        return [
            Hotspot(
                lat=b.lat_min + 0.7 * (b.lat_max - b.lat_min),
                lon=b.lon_min + 0.3 * (b.lon_max - b.lon_min),
            )
        ]
