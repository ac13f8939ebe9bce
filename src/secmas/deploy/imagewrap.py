"""Steps 3–4 for agents that run an OCI image: SECaaS wraps the `secmas` package as the
image holds it, measured by the image's own interpreter.

An agent measures its live code objects (`secmas.trust.image`), whose digests depend on
the interpreter that compiled them: the image's Python (Debian's 3.11.2) compiles some
modules to other bytecode than the host's (3.11.7 here), so a reference made on the host
fails genuine agents in pods. So SECaaS runs `secmas wrap` on the package inside a
container of the image, as sandboxed as an agent: no network, a read-only root, no
capability, an unprivileged user. That run signs with a key made for it in its tmpfs,
which is thrown away with the container; SECaaS checks that the manifest it printed is
a well-formed Python manifest whose root is that of its entries, and signs it with its
own key. This trusts the image's interpreter to compile the image's files, which is what
wrapping the image means; the files themselves are attested from outside
(`secmas.trust.container`).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

import secmas
from secmas.deploy.podman import podman
from secmas.pipeline.images import WrappedImage
from secmas.pipeline.mlfo import AGENT_IMAGE
from secmas.trust.image import RuntimeImage
from secmas.trust.manifest import ReferenceManifest, sign
from secmas.trust.pycode import PackageMeasurement
from secmas.trust.repository import ReferenceRepository

PACKAGE = "secmas"
USER = "10001:10001"
WRAP = f"""set -e
root=$(python -c 'import os, {PACKAGE}; print(os.path.dirname({PACKAGE}.__file__))')
version=$(python -c 'import {PACKAGE}; print({PACKAGE}.__version__)')
python -m secmas wrap "$root" -o /tmp/manifest.json \\
  --image {AGENT_IMAGE}:{PACKAGE} --version "$version" >/dev/null
cat /tmp/manifest.json"""
"""What runs in the image: its package wrapped under the name the local driver gives it
(the key is made in `SECMAS_HOME`, the container's tmpfs)."""
SANDBOX = (
    "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges", "--user", USER,
    "-e", "HOME=/tmp", "-e", "SECMAS_HOME=/tmp/secmas",
)  # fmt: skip


class ImageWrapError(RuntimeError):
    """The image's wrap did not run or printed no usable manifest; the message says why."""


def wrap_in_image(
    image: str,
    key: Ed25519PrivateKey,
    repository: ReferenceRepository,
    host_root: Path = Path(secmas.__file__).parent,
) -> WrappedImage:
    """The image's package wrapped (module docstring), signed with `key` and stored in
    `repository`; `host_root` is where the MLFO's own copy of the package lives, which
    only the measurement of in-process agents reads (none run here)."""
    printed = podman(["run", *SANDBOX, image, "sh", "-c", WRAP])
    try:
        manifest = ReferenceManifest.model_validate_json(printed)
    except ValidationError as exc:
        raise ImageWrapError(f"{image}: its wrap printed no manifest: {exc}") from None
    if manifest.kind != "python" or manifest.root != _root(manifest):
        raise ImageWrapError(f"{image}: its wrap printed a manifest whose root does not match")
    signed = sign(manifest, key)
    repository.put(signed, replace=True)
    return WrappedImage(signed, RuntimeImage.of(signed, host_root))


def _root(manifest: ReferenceManifest) -> str:
    """The root of the package the manifest's entries describe."""
    return PackageMeasurement.from_entries(PACKAGE, manifest.entries).root
