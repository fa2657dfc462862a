"""Landing: raw files -> Delta tables ``raw/<source>`` with provenance."""

from lakehouse.landing.land import FileReport, LandingError, LandingReport, expand_inputs, land

__all__ = ["FileReport", "LandingError", "LandingReport", "expand_inputs", "land"]
