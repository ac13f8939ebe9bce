"""Whether the emulated links can delay packets: netem loaded, built in, installed or
missing, and what a link and the report are given either way."""

from __future__ import annotations

from pathlib import Path

from secmas.network.emulation.latency import MODELLED, NETEM, LinkLatency, netem_missing

RELEASE = "6.1.0-test"


def _trees(tmp_path: Path) -> tuple[Path, Path]:
    modules, loaded = tmp_path / "lib-modules", tmp_path / "sys-module"
    (modules / RELEASE).mkdir(parents=True)
    loaded.mkdir()
    return modules, loaded


def test_netem_loaded_built_in_or_installed_delays(tmp_path: Path) -> None:
    modules, loaded = _trees(tmp_path)
    why = netem_missing(RELEASE, modules, loaded)
    assert why is not None and RELEASE in why and NETEM in why
    (loaded / NETEM).mkdir()
    assert netem_missing(RELEASE, modules, loaded) is None
    (loaded / NETEM).rmdir()
    (modules / RELEASE / "modules.builtin").write_text(f"kernel/net/sched/{NETEM}.ko\n")
    assert netem_missing(RELEASE, modules, loaded) is None
    (modules / RELEASE / "modules.builtin").write_text("kernel/net/sched/sch_htb.ko\n")
    sched = modules / RELEASE / "kernel" / "net" / "sched"
    sched.mkdir(parents=True)
    assert netem_missing(RELEASE, modules, loaded) is not None
    (sched / f"{NETEM}.ko.xz").write_bytes(b"")
    assert netem_missing(RELEASE, modules, loaded) is None


def test_a_link_is_delayed_only_where_netem_is() -> None:
    assert LinkLatency(None).link_options(12.5) == {"delay": "12.5ms"}
    assert LinkLatency(None).link_options(0.0) == {}
    assert LinkLatency("no netem").link_options(12.5) == {}


def test_the_report_says_plainly_what_is_modelled() -> None:
    said = LinkLatency("kernel x has no netem").describe()
    assert said["emulated"] is False and said["why"] == "kernel x has no netem"
    assert MODELLED in said["said"] and "kernel x has no netem" in said["said"]
    assert LinkLatency(None).describe() == {
        "emulated": True,
        "by": "netem",
        "why": None,
        "said": None,
    }
