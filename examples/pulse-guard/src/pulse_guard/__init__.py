"""secmas-pulse-guard: an example of what a researcher's own package adds to secmas.

- `attack`: `pulse_flood`, a low-rate pulsing flood (the same bots burst every period),
  which a threshold with hysteresis on the server's link never confirms;
- `detector`: `swing`, a window's peak over its mean, fitted on normal traffic;
- `sentinel`: `pulse_sentinel`, a VNF whose capability watches the traffic towards the
  server with that detector and posts the goal `pulseScrubbed(server)`;
- `scrubber`: `pulse_scrubber`, the VNF whose plan, run by the auction's winner, finds the
  bots by their own swing and blocks them through the controller;
- `light`: `light_classifier`, the built-in Classifier under a name of its own, which the
  guide's scenario sizes apart in YAML.

Each is registered in this package's `pyproject.toml` under a `secmas.*` entry-point
group; secmas names none of them.
"""
