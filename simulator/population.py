"""A fixed synthetic population: the same seed gives the same citizens, so names recur."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Population"]

_FIRST = (
    "Ada Alan Alice Amir Ana Anton Aria Ava Basil Bea Bruno Carla Cyril Dalia Dario Elena Emil Enzo "
    "Eva Felix Flora Gael Greta Hana Hugo Ida Ines Ivan Jade Jonas Juno Karim Kira Lars Lea Leon "
    "Lina Luca Maya Milo Mira Nadia Nils Noor Omar Otto Paz Pia Quinn Rafa Rosa Sami Sara Tariq Tess "
    "Ugo Vera Wim Yara Zoe"
).split()
_LAST = (
    "Abbott Adler Baker Berg Blanc Brandt Costa Cruz Dahl Diaz Duval Eklund Faure Fischer Garcia "
    "Grant Haas Hale Ibsen Ito Jansen Kaur Keller Klein Lang Laurent Lopez Marin Meyer Moreau Nagy "
    "Novak Okafor Olsen Petit Quint Roux Rossi Sato Schmidt Silva Sousa Stein Tanaka Torres Ueda "
    "Vidal Vogel Wagner Weber Yilmaz Young Zeller Ziegler"
).split()


@dataclass(frozen=True)
class Population:
    ids: list[str]
    names: list[str]
    # Per-citizen temperament: the mean of their usual (non-bad) peacescore.
    calm: np.ndarray

    @classmethod
    def generate(cls, *, size: int, seed: int) -> Population:
        rng = np.random.default_rng([seed, 7])
        first = rng.integers(0, len(_FIRST), size)
        last = rng.integers(0, len(_LAST), size)
        names = [f"{_FIRST[f]} {_LAST[surname]}" for f, surname in zip(first, last, strict=True)]
        ids = [f"c{i:06d}" for i in range(size)]
        calm = rng.normal(68.0, 8.0, size).clip(45.0, 90.0)
        return cls(ids=ids, names=names, calm=calm)

    def __len__(self) -> int:
        return len(self.ids)
