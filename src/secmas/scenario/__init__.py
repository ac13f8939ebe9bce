"""Scenario models, YAML loading and generation from real topologies."""

from secmas.scenario.loader import Problem, ScenarioError, load_scenario, parse_scenario
from secmas.scenario.model import Scenario

__all__ = ["Problem", "Scenario", "ScenarioError", "load_scenario", "parse_scenario"]
