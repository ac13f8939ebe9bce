"""What a genuine agent process is started with, as allow-lists: the names of its
environment variables and the exact shape of its command line.

A deny-list of the variables that load code (`LD_PRELOAD`, `PYTHONPATH`, …) keeps being
outrun: `OPENSSL_CONF` loads a provider's shared object into every process that starts
OpenSSL, `GCONV_PATH` an iconv module, `PYTHONWARNINGS` imports the module a warning
category names. So a variable is accepted only by name, from the list below, and anything
else fails the agent's measurement, whatever it would load. Each name is here because a
genuine agent process has it and its value loads no code into it:

- what the system and a login give a process (`PATH`, `HOME`, the locale, …). `PATH`
  only picks programs run in other processes and the library a `ctypes.util` search
  finds (which then shows as a mapped file, checked by digest); `HOME` picks the user
  site directory, whose start-up hooks the measurer reads from the agent's own `HOME`;
  the locale's files are mapped, so checked by digest too;
- what `sudo` sets (a run started with it) and podman (`container`, in an agent image);
- Python's switches that only turn something off or fix a seed (`PYTHONNOUSERSITE`,
  `PYTHONDONTWRITEBYTECODE`, `PYTHONHASHSEED`, …), and the numeric libraries' thread
  counts the experiment runner sets;
- the project's own variables: the bus credentials and the enrolment credential the
  launchers hand over (`secmas.pipeline.iml.AgentLaunch.env`), where keys and caches live.

Launchers hand an agent only these (`agent_environment`): the shell that starts a run
holds variables of its own (CA bundles, tool settings) that an agent has no use for.

The command line must be exactly the launcher's (`CommandShape`): the interpreter path as
launched (it decides which `pyvenv.cfg`, so which site-packages, the interpreter reads),
no interpreter option (`-X importtime`, `-c`, `-W`), the module and its arguments, and
only the options `secmas agent` is given, each once; or, for an agent the local driver
forked from its spawner, the spawner's, whose one option names the run's folder
(`agent_command`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SYSTEM_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "HOSTNAME", "TERM", "TZ", "TMPDIR",
    "LANG", "LANGUAGE", "LC_ALL", "LC_ADDRESS", "LC_COLLATE", "LC_CTYPE", "LC_IDENTIFICATION",
    "LC_MEASUREMENT", "LC_MESSAGES", "LC_MONETARY", "LC_NAME", "LC_NUMERIC", "LC_PAPER",
    "LC_TELEPHONE", "LC_TIME",
})  # fmt: skip
"""What the system and a login give a process."""
SESSION_VARIABLES = frozenset({
    "MAIL", "SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND", "container",
})  # fmt: skip
"""What `sudo` (a run started with it) and podman (`container`) add."""
PYTHON_VARIABLES = frozenset({
    "PYTHONDONTWRITEBYTECODE", "PYTHONFAULTHANDLER", "PYTHONHASHSEED", "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH", "PYTHONUNBUFFERED", "PYTHONUTF8",
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
})  # fmt: skip
"""Interpreter switches that load nothing, and numeric libraries' thread counts."""
PROJECT_VARIABLES = frozenset({
    "SECMAS_BUS_AUTH", "SECMAS_LEDGER_TOKEN", "SECMAS_ENROLMENT", "SECMAS_HOME", "SECMAS_CACHE",
    "XDG_CACHE_HOME", "SECMAS_TORCH_THREADS", "SECMAS_CTI_KEYS", "SECMAS_TAXII_USER",
    "SECMAS_TAXII_PASSWORD", "SECMAS_DATAPLANE_RUNS", "SECMAS_PLATFORM", "SECMAS_RELEASES",
    "SECMAS_TRUST_WORKING_TREE", "SECMAS_MEASURED_FILES",
})  # fmt: skip
"""The project's own: credentials the launchers hand over, where keys and caches live
(models are read with `weights_only`, so a cache holds no code), and the development switch
that trusts plug-ins as found (read at steps 3–4 only, and said by every run)."""
AGENT_VARIABLES = SYSTEM_VARIABLES | SESSION_VARIABLES | PYTHON_VARIABLES | PROJECT_VARIABLES
"""Every name a genuine agent process's environment may hold."""


def agent_environment(source: Mapping[str, str]) -> dict[str, str]:
    """What a launcher hands an agent of `source` (its own environment): the allow-listed
    variables only."""
    return {name: value for name, value in source.items() if name in AGENT_VARIABLES}


@dataclass(frozen=True)
class CommandShape:
    """The exact shape of a genuine command line: the program as launched, the words
    that always follow it, a number of positional arguments, then options that each take
    one value, given at most once, some of them required."""

    program: str
    fixed: tuple[str, ...]
    positionals: int = 0
    options: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()

    def starts(self, argv: Sequence[str]) -> bool:
        """Whether `argv` starts with this shape's program and fixed words."""
        head = (self.program, *self.fixed)
        return tuple(argv[: len(head)]) == head

    def problems(self, argv: Sequence[str]) -> list[str]:
        """What makes `argv` another command line, naming the word; empty when it fits."""
        head = (self.program, *self.fixed)
        if not self.starts(argv):
            shown = _quoted(" ".join(argv[: len(head) + 2]), 160)
            return [f"command line starts {shown}, expected {' '.join(head)!r}"]
        rest = list(argv[len(head) :])
        arguments, given = rest[: self.positionals], rest[self.positionals :]
        if len(arguments) < self.positionals or any(a.startswith("-") for a in arguments):
            return [f"command line lacks its {self.positionals} argument(s) after {head[-1]!r}"]
        problems, seen = [], set()
        for name, value in zip(given[::2], [*given[1::2], None], strict=False):
            if name not in self.options:
                problems.append(f"command line option {_quoted(name, 60)} is not expected")
            elif name in seen:
                problems.append(f"command line option {name} given twice")
            elif value is None:
                problems.append(f"command line option {name} without a value")
            seen.add(name)
        problems += [f"command line lacks {name}" for name in sorted(self.required - seen)]
        return problems


def _quoted(word: str, limit: int) -> str:
    """`word` quoted with its unprintable characters escaped, cut to `limit` characters:
    a message names what it found without growing with what an attacker wrote."""
    quoted = repr(word)
    return quoted if len(quoted) <= limit else f"{quoted[: limit - 1]}…"


AGENT_OPTIONS = frozenset({
    "--pop", "--bus", "--pipeline", "--ledger", "--tamper-at", "--bus-ca", "--ledger-ca",
    "--bus-key",
})  # fmt: skip
"""The options a launcher gives `secmas agent` (`secmas.pipeline.iml.AgentLaunch.argv`)."""


SPAWNER_MODULE = "secmas.pipeline.spawner"
"""The module a local driver's agents are forked from (`secmas.pipeline.spawner`)."""


@dataclass(frozen=True)
class OneOf:
    """Any of several command lines: fits when one of its shapes fits."""

    shapes: tuple[CommandShape, ...]

    def problems(self, argv: Sequence[str]) -> list[str]:
        """Empty when one shape fits; else what makes `argv` differ from the shape whose
        program and words it starts with (the first shape when none)."""
        found = [shape.problems(argv) for shape in self.shapes]
        if any(not problems for problems in found):
            return []
        started = [shape for shape in self.shapes if shape.starts(argv)]
        return found[self.shapes.index(started[0])] if started else found[0]


Command = CommandShape | OneOf
"""A command line's expected shape: one, or any of several."""


def agent_launch(program: str = sys.executable) -> CommandShape:
    """`<program> -m secmas agent <scenario> --pop … --bus … --pipeline … [options]`, as
    the launchers start an agent with this interpreter."""
    required = frozenset({"--pop", "--bus", "--pipeline"})
    return CommandShape(program, ("-m", "secmas", "agent"), 1, AGENT_OPTIONS, required)


def agent_command(program: str = sys.executable) -> OneOf:
    """What a genuine agent process's command line is: `secmas agent`'s as launched
    (`agent_launch`), or, for an agent forked by the local driver's spawner, the
    spawner's (`<program> -m secmas.pipeline.spawner --run FOLDER`): a forked process
    shows the command line it started as, and the spawner's one option, the run's folder,
    loads no code."""
    run = frozenset({"--run"})
    spawner = CommandShape(program, ("-m", SPAWNER_MODULE), 0, run, run)
    return OneOf((agent_launch(program), spawner))
