"""Intent-based security (`004_…` Section 3, `002_…` Section II.B): security intents written
by operators are translated into Security SLAs (guarantee terms whose indicators are KPI
formulas), and those into rules that the SSLA assessment function evaluates on the live metric
and flow streams of a run; breaches trigger remediation (notify, log, reject packets, revoke an
agent), and every decision is explained and kept in a hash-chained audit log."""
