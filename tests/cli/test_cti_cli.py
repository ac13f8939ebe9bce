"""`secmas cti share`: the bundle, the decision table, hygiene; bad files exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
CTI = ROOT / "scenarios" / "cti"
runner = CliRunner()


def maps() -> list[str]:
    return [
        "--sensitivity",
        str(CTI / "sensitivity.yaml"),
        "--necessity",
        str(CTI / "necessity.yaml"),
    ]


def test_share_writes_the_bundle_and_decisions(tmp_path: Path) -> None:
    bundle, table = tmp_path / "bundle.json", tmp_path / "decisions.csv"
    reports = [str(CTI / "edge-a.json"), str(CTI / "edge-b.csv"), str(CTI / "core-c.json")]
    result = runner.invoke(
        app,
        ["cti", "share", *reports, *maps(), "--out", str(bundle), "--decisions", str(table)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "hygiene core-c: 0.011  below 0.5" in result.output
    assert "hygiene edge-a: 0.738\n" in result.output
    objects = json.loads(bundle.read_text())["objects"]
    assert sum(o["type"] == "report" for o in objects) == 3
    assert any("anonymised" in e for o in objects for e in o.get("extensions", {}).values())
    assert table.read_text().startswith("domain,")


def test_without_out_the_bundle_is_printed() -> None:
    result = runner.invoke(app, ["cti", "share", str(CTI / "edge-a.json"), *maps()])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["type"] == "bundle"


def test_bad_files_exit_2_naming_each(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "secmas-scan/1", "hosts": [}')
    result = runner.invoke(app, ["cti", "share", str(broken), str(tmp_path / "gone.csv"), *maps()])
    assert result.exit_code == 2
    assert "broken.json" in result.output and "gone.csv" in result.output
    assert "Traceback" not in result.output


ALL = [str(CTI / "edge-a.json"), str(CTI / "edge-b.csv"), str(CTI / "core-c.json")]


def test_taxii_local_publishes_and_takes_hygiene_from_what_was_polled(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    result = runner.invoke(
        app, ["cti", "share", *ALL, *maps(), "--out", str(bundle), "--taxii", "local"]
    )
    assert result.exit_code == 0, result.output
    assert "TAXII http://127.0.0.1:" in result.output
    assert "core-c published 81 objects (0 refused); the subscriber polled 81" in result.output
    assert "hygiene core-c: 0.011  below 0.5" in result.output


def test_taxii_url_of_an_existing_server(tmp_path: Path, monkeypatch) -> None:
    from secmas.cti.taxii import MedallionServer

    domains = ["edge-a", "edge-b", "core-c"]
    with MedallionServer(tmp_path / "taxii", domains, relay=True) as server:
        access = server.relay()
        monkeypatch.setenv("SECMAS_TAXII_PASSWORD", access.password)
        command = ["cti", "share", *ALL, *maps(), "--out", str(tmp_path / "b.json")]
        ok = runner.invoke(app, [*command, "--taxii", server.url, "--taxii-user", access.user])
        monkeypatch.setenv("SECMAS_TAXII_PASSWORD", "wrong")
        again = [*command, "--force", "--taxii", server.url, "--taxii-user", access.user]
        refused = runner.invoke(app, again)
    assert ok.exit_code == 0, ok.output
    assert "hygiene edge-a: 0.738\n" in ok.output
    assert refused.exit_code == 2
    assert f"--taxii {server.url}" in refused.output and "wrong user or password" in refused.output


def test_taxii_signs_with_the_keys_given_and_names_a_bad_key_file(tmp_path: Path) -> None:
    from secmas.cti.signing import jwk_set, new_keys, thumbprint

    keys = new_keys(["edge-a", "edge-b", "core-c"])
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(jwk_set(keys, private=True)))
    command = ["cti", "share", *ALL, *maps(), "--taxii", "local", "--json"]
    result = runner.invoke(app, [*command, "--keys", str(path)])
    assert result.exit_code == 0, result.output
    taxii = json.loads(result.output)["taxii"]
    assert taxii["keys"] == {d: thumbprint(k.public) for d, k in keys.items()}
    path.write_text(json.dumps(jwk_set({"edge-a": keys["edge-a"]}, private=True)))
    lacking = runner.invoke(app, [*command, "--keys", str(path)])
    assert lacking.exit_code == 2 and "Traceback" not in lacking.output
    assert f"--keys: {path}: no private key (d) for domain 'edge-b'" in lacking.output


def test_bad_taxii_arguments_exit_2() -> None:
    result = runner.invoke(app, ["cti", "share", ALL[0], *maps(), "--taxii", "ftp://x"])
    assert result.exit_code == 2
    assert "expected 'local' or the http(s) URL" in result.output


def test_a_report_over_the_size_limit_exits_2_naming_it() -> None:
    result = runner.invoke(app, ["cti", "share", *ALL, *maps(), "--max-report-mb", "0.002"])
    assert result.exit_code == 2
    assert "edge-a.json" in result.output and "MiB limit" in result.output
    assert "Traceback" not in result.output


def test_a_run_publishes_to_an_existing_server_given_with_taxii(tmp_path, monkeypatch) -> None:
    from secmas.api.defence import adaptive_defence
    from secmas.api.errors import RunInputError
    from secmas.cli.main import default_scenario_path
    from secmas.cti.taxii import MedallionServer
    from secmas.scenario.loader import load_scenario

    path = default_scenario_path("adaptive-defence")
    scenario = load_scenario(path)
    with MedallionServer(tmp_path, ["edge-a", "edge-b", "core-c"], relay=True) as server:
        access = server.relay()
        monkeypatch.setenv("SECMAS_TAXII_USER", access.user)
        monkeypatch.setenv("SECMAS_TAXII_PASSWORD", access.password)
        defence = adaptive_defence(scenario, path, server.url)
        monkeypatch.setenv("SECMAS_TAXII_PASSWORD", "wrong")
        with pytest.raises(RunInputError) as refused:
            adaptive_defence(scenario, path, server.url)
    assert defence.hygiene is not None
    assert defence.hygiene.exchanged.url == server.url
    assert defence.hygiene.excluded == {
        "pop5": "domain core-c hygiene 0.011 is below the threshold 0.300"
    }
    assert refused.value.option == "taxii"
    bad = runner.invoke(app, ["demo", "--scenario", "adaptive-defence", "--taxii", "nowhere"])
    assert bad.exit_code == 2 and "--taxii nowhere" in bad.output


@pytest.mark.parametrize("option", ["--out", "--decisions"])
def test_an_unwritable_output_exits_2_naming_the_option_and_path(
    tmp_path: Path, option: str
) -> None:
    target = tmp_path / "none" / "b.json"
    result = runner.invoke(app, ["cti", "share", ALL[0], *maps(), option, str(target)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"{option} {target}: no folder {target.parent}" in said
    assert "Errno" not in said and "Traceback" not in said


def test_a_report_given_twice_exits_2_naming_it(tmp_path: Path) -> None:
    again = str(CTI / ".." / "cti" / "edge-a.json")
    result = runner.invoke(app, ["cti", "share", ALL[0], again, *maps()], terminal_width=200)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"<arguments>: reports: {again} is {ALL[0]} again: give each report once" in said
    copy = tmp_path / "copy.json"
    copy.write_bytes((CTI / "edge-a.json").read_bytes())
    result = runner.invoke(app, ["cti", "share", ALL[0], str(copy), *maps()], terminal_width=200)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"reports: {copy} holds the same report as {ALL[0]}: give each report once" in said
