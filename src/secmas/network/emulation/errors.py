"""What can go wrong with an emulated run, by whose fault: the machine, the scenario or
the run itself (the CLI exits 2 for the first two, 1 for the last). Light to import: the
command line names these without loading the emulation."""

from __future__ import annotations


class EmulationUnavailable(RuntimeError):
    """The emulated engine cannot run here; the text lists what is missing."""


class PlanError(ValueError):
    """The scenario cannot be emulated as it is (the text says what and where)."""


class EmulationFailed(RuntimeError):
    """The emulated network could not be built or its traffic could not run."""


class VNFFailed(EmulationFailed):
    """A VNF instance could not be pulled or started in its PoP (the text says why)."""
