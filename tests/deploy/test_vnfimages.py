"""The VNF images (`secmas.deploy.vnfimages`): names the registry accepts, layers sized as
the catalogue says and scaled, incompressible and the same on every build; the registry
folder made once, holding an image per VNF whose pull moves the VNF's layer alone."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from tests.containers import vnf_tools_missing

from secmas.deploy.vnfimages import (
    MAX_LAYER_MB,
    PopStore,
    layer_bytes,
    payload,
    prepare_registry,
    registry_config,
    repository_of,
    serving,
)
from secmas.listenport import free_port


def test_a_vnf_id_becomes_a_repository_name_the_registry_accepts() -> None:
    assert repository_of("classifier") == "secmas-vnf/classifier"
    odd = repository_of("Deep Packet/Inspector")
    assert odd.startswith("secmas-vnf/deep-packet-inspector-") and odd == odd.lower()
    assert repository_of("Deep Packet/Inspector") != repository_of("deep-packet-inspector")


def test_a_layer_is_the_catalogue_size_scaled_as_the_traffic_and_capped() -> None:
    assert layer_bytes(50, 0.04) == 2_000_000  # ddos-emulated: 50 MB at 4 %
    assert layer_bytes(500, 1.0) == int(MAX_LAYER_MB * 1_000_000)


def test_the_payload_is_deterministic_exact_and_incompressible() -> None:
    first = b"".join(payload("classifier", 3_000_001))
    assert len(first) == 3_000_001
    assert first == b"".join(payload("classifier", 3_000_001))
    assert first[:1000] != b"".join(payload("rate_limiter", 1000))
    assert len(zlib.compress(first, 9)) > 0.99 * len(first)


def test_the_run_registry_serves_read_only() -> None:
    text = registry_config(Path("/srv/store"), "10.251.0.5:5000", read_only=True)
    assert "rootdirectory: /srv/store" in text and "addr: 10.251.0.5:5000" in text
    assert "readonly:\n      enabled: true" in text
    assert "readonly" not in registry_config(Path("/srv/store"), "127.0.0.1:1", read_only=False)


@pytest.fixture(scope="module")
def tools() -> None:
    reason = vnf_tools_missing()
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.usefixtures("tools")
def test_the_registry_folder_is_made_once_and_a_pull_moves_only_the_vnf_layer(
    tmp_path: Path,
) -> None:
    sizes = {"classifier": 300_000, "rate_limiter": 200_000}
    registry = prepare_registry(sizes)
    assert prepare_registry(sizes) == registry  # cached: the same folder and digests
    assert set(registry.images) == set(sizes)
    for vnf, image in registry.images.items():
        assert image.digest.startswith("sha256:") and image.repository == repository_of(vnf)
        assert sizes[vnf] < image.layer_bytes < sizes[vnf] + 100_000  # payload and program
    address = f"127.0.0.1:{free_port()}"
    store = PopStore(tmp_path / "pop")
    try:
        with serving(registry.store, address, tmp_path / "registry.log", read_only=True):
            image = registry.images["classifier"]
            reference = f"{address}/{image.repository}@{image.digest}"
            seconds = store.pull(reference, ())
        assert seconds > 0
        assert store.size() < image.layer_bytes + 2_000_000  # the NFVI base was not copied
        described = store.podman(
            ["image", "inspect", "--format", '{{index .Labels "io.secmas.vnf"}}', reference]
        )
        assert described.strip() == "classifier"
    finally:
        store.remove()
    assert not (tmp_path / "pop").exists()
