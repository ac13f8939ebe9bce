"""Native code and options that reach an agent's process through its environment, its
command line or a directory the measurer trusted.

The victim is a real Python process measured from outside, as in
`test_measurement_external` (whose host, victim and helpers these tests share). The
implants are real shared objects built with gcc: an OpenSSL provider that `OPENSSL_CONF`
loads into every process that initialises OpenSSL (`import hmac` does), and a library
loaded with ctypes, both dropped into the install's site-packages, which the platform
reference used to accept whole. Each fails the appraisal now, naming the variable, the
option or the file; before, each passed.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.security.test_measurement_external import (
    PACKAGE,
    VICTIM,
    Host,
    failed_because,
)
from tests.security.test_measurement_external import (
    host as measured_host,  # noqa: F401  (the fixture `host`, shared)
)

from secmas.trust.allowlist import AGENT_VARIABLES, CommandShape
from secmas.trust.measurer import Expectation, MeasurerAppraisal
from secmas.trust.measurer_probe import platform_reference

if shutil.which("gcc") is None:
    pytest.skip("the native implants are built with gcc", allow_module_level=True)

# Runs at load (its constructor writes the file MARK) and stays loaded: OpenSSL keeps a
# provider whose init succeeds, and this one's dispatch table is empty, so nothing else
# changes.
PROVIDER = """\
#include <stdio.h>
__attribute__((constructor)) static void implant(void) {
    FILE *file = fopen(MARK, "w");
    if (file) { fputs("loaded", file); fclose(file); }
}
typedef struct { int id; void (*fn)(void); } dispatch;
static const dispatch none[] = {{0, NULL}};
int OSSL_provider_init(const void *core, const void *in, const dispatch **out, void **ctx) {
    *out = none;
    *ctx = (void *)core;
    return 1;
}
"""

OPENSSL_CONF = """\
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
implant = implant_sect
default = default_sect
[implant_sect]
module = {module}
activate = 1
[default_sect]
activate = 1
"""

SCRIPT = VICTIM.format(package=PACKAGE, attack="")
SHAPE = CommandShape(sys.executable, ("-c", SCRIPT))
"""The victim's genuine command line, exactly (an agent's is `secmas.trust.allowlist.
agent_command`, checked by the multi-process end-to-end runs)."""


@pytest.fixture
def host(request: pytest.FixtureRequest) -> Host:
    """`test_measurement_external`'s host: SECaaS, a measurer, the victim's package."""
    shared: Host = request.getfixturevalue("measured_host")
    return shared


@pytest.fixture
def site_packages() -> Iterator[Path]:
    """A folder of the install's site-packages (where the reference trusted every file)."""
    folder = Path(sysconfig.get_paths()["platlib"]) / f"secmas_implant_{secrets.token_hex(4)}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def build(source: str, target: Path, *defines: str) -> Path:
    """Compile `source` into the shared object `target`."""
    code = target.with_suffix(".c")
    code.write_text(source)
    flags = [f"-D{d}" for d in defines]
    subprocess.run(["gcc", "-shared", "-fPIC", *flags, "-o", str(target), str(code)], check=True)
    code.unlink()
    return target


def attest(host: Host, pid: int, command: CommandShape | None = SHAPE) -> MeasurerAppraisal:
    nonce = secrets.token_bytes(32)
    evidence = host.measurer.measure(pid, nonce)
    return host.appraise(evidence, Expectation(nonce, pid, host.modules, command))


GENUINE = "import ssl; from cryptography.hazmat.primitives import hashes; hashes.SHA256()"


def test_a_genuine_agent_passes_every_allow_list(host: Host) -> None:
    """OpenSSL initialised by the standard library and by `cryptography`, and the victim's
    command line held to its exact shape: nothing off a list."""
    script = VICTIM.format(package=PACKAGE, attack=GENUINE)
    pid = host.spawn(["-c", script])
    appraisal = attest(host, pid, CommandShape(sys.executable, ("-c", script)))
    assert appraisal.passed, appraisal.reasons


def test_an_openssl_provider_loaded_through_openssl_conf_is_caught(
    host: Host, site_packages: Path, tmp_path: Path
) -> None:
    mark = tmp_path / "mark"
    module = build(PROVIDER, site_packages / "provider.so", f'MARK="{mark}"')
    conf = tmp_path / "openssl.cnf"
    conf.write_text(OPENSSL_CONF.format(module=module))
    pid = host.start(env={"OPENSSL_CONF": str(conf)})
    assert mark.read_text() == "loaded"  # the implant ran inside the victim
    appraisal = host.attest(pid)
    assert failed_because(appraisal, "environment OPENSSL_CONF set, not on the allow-list")
    assert failed_because(appraisal, f"maps {module}, which the platform reference does not list")
    # Whatever loaded it: a reference that allowed the variable still fails its file.
    host.reference = platform_reference(host.secaas, variables=AGENT_VARIABLES | {"OPENSSL_CONF"})
    appraisal = host.attest(pid)
    assert appraisal.reasons == (f"maps {module}, which the platform reference does not list",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GCONV_PATH", "/tmp"),  # where iconv loads its modules from
        ("PYTHONWARNINGS", "ignore::DeprecationWarning"),  # names a category to import
        ("SECMAS_NEVER_HEARD_OF", "1"),
    ],
)
def test_a_variable_off_the_allow_list_is_caught(host: Host, name: str, value: str) -> None:
    appraisal = host.attest(host.start(env={name: value}))
    assert appraisal.reasons == (f"environment {name} set, not on the allow-list",)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["-X", "importtime", "-c", SCRIPT], "command line starts"),
        (["-W", "ignore::Warning", "-c", SCRIPT], "command line starts"),
        (["-c", SCRIPT, "--extra", "x"], "command line option '--extra' is not expected"),
    ],
    ids=["-X", "-W", "extra"],
)
def test_a_command_line_of_another_shape_is_caught(
    host: Host, argv: list[str], reason: str
) -> None:
    assert attest(host, host.spawn(["-c", SCRIPT])).passed
    assert failed_because(attest(host, host.spawn(argv)), reason)


def test_a_library_dropped_into_site_packages_is_caught(host: Host, site_packages: Path) -> None:
    library = build("int answer(void) { return 42; }\n", site_packages / "helper.so")
    load = f"import ctypes; assert ctypes.CDLL({str(library)!r}).answer() == 42"
    appraisal = host.attest(host.start(load))
    assert appraisal.reasons == (f"maps {library}, which the platform reference does not list",)
