"""The cars the demo dealer sells and services: models, prices (TWD) and what servicing costs."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    code: str  # two letters inside the demo VIN
    price: tuple[int, int]  # list price range of a new car, TWD
    service_factor: float  # servicing cost relative to a mid-size car
    first_year: int  # first model year sold
    weight: int  # share of sales


MODELS: tuple[Model, ...] = (
    Model("ES 300h", "ES", (2_000_000, 2_500_000), 1.0, 2000, 25),
    Model("NX 350h", "NX", (2_100_000, 2_650_000), 1.0, 2000, 25),
    Model("RX 350h", "RX", (2_800_000, 3_600_000), 1.2, 2000, 15),
    Model("UX 300h", "UX", (1_500_000, 1_850_000), 0.9, 2019, 12),
    Model("IS 300", "IS", (1_900_000, 2_300_000), 0.9, 2000, 6),
    Model("RZ 450e", "RZ", (2_900_000, 3_300_000), 0.6, 2023, 6),
    Model("LS 500h", "LS", (4_500_000, 6_300_000), 1.6, 2000, 4),
    Model("LM 350h", "LM", (4_000_000, 6_000_000), 1.6, 2020, 4),
    Model("LX 600", "LX", (5_500_000, 6_500_000), 1.7, 2022, 3),
)

_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # VINs never use I, O or Q


@dataclass(frozen=True, slots=True)
class Car:
    model: Model
    model_year: int
    vin: str
    price: int  # what the customer paid, TWD
    acquired_day: int  # day number (see clock.Window); negative = before the window
    km_per_year: int


def pick_model(rng: random.Random, model_year: int) -> Model:
    """A model that was on sale in that model year, by share of sales."""
    available = [m for m in MODELS if m.first_year <= model_year]
    return rng.choices(available, weights=[m.weight for m in available])[0]


def new_car(rng: random.Random, model_year: int, acquired_day: int) -> Car:
    model = pick_model(rng, model_year)
    low, high = model.price
    price = round(rng.uniform(low, high), -3)
    serial = "".join(rng.choices(_VIN_CHARS, k=10))
    vin = f"JTH{model.code}{_VIN_CHARS[model_year % len(_VIN_CHARS)]}{serial}X"
    return Car(model, model_year, vin, int(price), acquired_day, rng.randint(8_000, 22_000))
