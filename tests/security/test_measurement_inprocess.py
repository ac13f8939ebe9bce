"""Implants against the agent's own Python measurement (the second signal).

The adversary runs code inside a genuine, attested agent (here: an agent package in a
temporary directory, imported for real) and changes its behaviour without swapping a
code object the way the first reference knew how to catch: a method bound on the agent
*instance*, a module's dispatch table rebound to a plaintext logger, a patched
standard-library function, a wrapper made with `functools.wraps`, and the demo implant;
each before the agent was ever measured and after (the measurement keeps what it saw,
so every attack is also one on that memory).
The implant's code arrives as an attacker's would, from text compiled at runtime (it is
in no file the reference measured). Each test is the attempt; the verifier must refuse
the evidence the infected agent signs with its genuine key.
"""

from __future__ import annotations

import functools
import heapq
import hmac
import importlib
import itertools
import json
import os
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.attestation import Appraisal, Verifier, produce_evidence
from secmas.trust.identity import AgentIdentity
from secmas.trust.image import RuntimeImage, reference_measurement
from secmas.trust.wrap import wrap

AGENT = """\
import functools
import hmac

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

CIPHERS = {"aes-256-gcm": AESGCM, "chacha20-poly1305": ChaCha20Poly1305}


class Agent:
    def __init__(self, key: bytes) -> None:
        self.key = key
        self.sent: list[bytes] = []

    def seal(self, cipher: str, nonce: bytes, data: bytes) -> bytes:
        frame = CIPHERS[cipher](self.key).encrypt(nonce, data, None)
        self.sent.append(frame)
        return frame

    def check(self, tag: bytes, expected: bytes) -> bool:
        return hmac.compare_digest(tag, expected)

    def wait(self, timeout: float = 5.0, *, retries: int = 3) -> float:
        return timeout * retries


class Careful(Agent):
    def check(self, tag: bytes, expected: bytes) -> bool:
        return len(tag) == 32 and super().check(tag, expected)


def limited(seconds):
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            return function(*args, **kwargs, timeout=seconds)

        return wrapper

    return decorate


@limited(5.0)
def verify(answer: bytes, timeout: float) -> float:
    return timeout
"""

# What the attacker sends over the network and `exec`s inside the agent.
IMPLANT = """\
LEAKED = []


class PlaintextLogger:
    def __init__(self, key):
        LEAKED.append(key)

    def encrypt(self, nonce, data, aad):
        LEAKED.append(data)
        return data


def seal(self, cipher, nonce, data):
    LEAKED.append(data)
    return data


def accept_any(a, b):
    return True


def copy(self):
    LEAKED.append(self)
    return self
"""

_names = itertools.count()


@dataclass
class Infected:
    """A running agent package, its image, and the attacker's compiled implant."""

    image: RuntimeImage
    module: types.ModuleType
    agent: object
    implant: dict[str, object]
    identity: AgentIdentity
    reference: bytes

    def appraise(self) -> Appraisal:
        """One attestation: a fresh challenge, evidence signed by the agent's own key. The
        verifier's clock stands still, as a run's virtual clock does while its agents
        measure: what is under test is the measurement, and a cold one, which walks every
        module the pytest worker loaded, took over 10 s of wall time beside
        `stress-ng --cpu 2` (stale evidence is refused in `test_attestation.py`)."""
        verifier = Verifier("verifier", clock=lambda: 0.0)
        challenge = verifier.challenge(self.identity.name)
        evidence = produce_evidence(self.identity, challenge, self.image.measure())
        return verifier.appraise(evidence, self.reference, self.identity.signing_public)


@pytest.fixture(params=["cold", "warm"])
def infected(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Infected]:
    """The agent, measured before the attack (`warm`: the measurement keeps what it saw,
    and must still see every change) or not (`cold`)."""
    name = f"victim_agent_{next(_names)}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "core.py").write_text(AGENT)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(f"{name}.core")
        manifest = wrap(root, Ed25519PrivateKey.generate())
        image = RuntimeImage.of(manifest, root)
        agent = module.Agent(bytes(32))
        image.watch(agent)
        implant: dict[str, object] = {}
        exec(compile(IMPLANT, "<implant>", "exec"), implant)
        identity = AgentIdentity.generate("pop3")
        if request.param == "warm":
            image.measure()
            image.measure()
        yield Infected(
            image, module, agent, implant, identity, reference_measurement(manifest).root
        )
    finally:
        sys.path.remove(str(tmp_path))
        for loaded in [m for m in sys.modules if m.startswith(name)]:
            del sys.modules[loaded]


def test_the_genuine_agent_passes(infected: Infected) -> None:
    assert infected.appraise().passed


def test_a_method_bound_on_the_instance_is_caught(infected: Infected) -> None:
    seal = infected.implant["seal"]
    assert isinstance(seal, types.FunctionType)
    infected.agent.seal = types.MethodType(seal, infected.agent)  # type: ignore[attr-defined]
    assert infected.agent.seal("aes-256-gcm", bytes(12), b"secret") == b"secret"  # type: ignore[attr-defined]
    appraisal = infected.appraise()
    assert not appraisal.passed
    assert appraisal.measurement is not None
    assert "bind:objects" in appraisal.measurement.differing(
        reference_measurement(wrap(infected.image.root, Ed25519PrivateKey.generate()))
    )


def test_a_genuine_function_bound_on_the_instance_is_caught_too(infected: Infected) -> None:
    # No foreign code at all: the instance's `check` is now the class's `seal`.
    cls = type(infected.agent)
    infected.agent.check = types.MethodType(cls.seal, infected.agent)  # type: ignore[attr-defined]
    assert not infected.appraise().passed


def test_a_cipher_table_rebound_to_a_plaintext_logger_is_caught(infected: Infected) -> None:
    infected.module.CIPHERS["aes-256-gcm"] = infected.implant["PlaintextLogger"]
    assert infected.agent.seal("aes-256-gcm", bytes(12), b"secret") == b"secret"  # type: ignore[attr-defined]
    assert not infected.appraise().passed


def test_a_whole_module_global_replaced_is_caught(infected: Infected) -> None:
    infected.module.CIPHERS = {"aes-256-gcm": infected.implant["PlaintextLogger"]}
    assert not infected.appraise().passed


def test_a_patched_standard_library_function_is_caught(
    infected: Infected, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hmac, "compare_digest", infected.implant["accept_any"])
    assert infected.agent.check(b"forged", b"genuine")  # type: ignore[attr-defined]
    appraisal = infected.appraise()
    assert not appraisal.passed
    assert appraisal.measurement is not None
    assert (
        dict(appraisal.measurement.parts)["bind:stdlib"]
        != dict(
            reference_measurement(wrap(infected.image.root, Ed25519PrivateKey.generate())).parts
        )["bind:stdlib"]
    )


def test_a_functools_wraps_wrapper_is_caught(infected: Infected) -> None:
    cls = type(infected.agent)
    namespace: dict[str, object] = {"functools": functools, "original": cls.seal, "out": []}
    exec(
        compile(
            "@functools.wraps(original)\n"
            "def seal(self, cipher, nonce, data):\n"
            "    out.append(data)\n"
            "    return original(self, cipher, nonce, data)\n",
            "<implant>",
            "exec",
        ),
        namespace,
    )
    cls.seal = namespace["seal"]  # __wrapped__ points back at the genuine method
    infected.agent.seal("aes-256-gcm", bytes(12), b"secret")  # type: ignore[attr-defined]
    assert namespace["out"] == [b"secret"]
    assert not infected.appraise().passed


def test_genuine_code_with_forged_globals_is_caught(infected: Infected) -> None:
    cls = type(infected.agent)
    genuine = cls.check
    forged = types.FunctionType(genuine.__code__, {"hmac": types.SimpleNamespace(
        compare_digest=lambda a, b: True)})  # fmt: skip
    cls.check = forged
    assert not infected.appraise().passed


def test_a_module_function_with_forged_globals_is_caught(infected: Infected) -> None:
    genuine = infected.module.Agent.check
    namespace = {"hmac": types.SimpleNamespace(compare_digest=lambda a, b: True)}
    forged = types.FunctionType(genuine.__code__, namespace, "check")
    forged.__qualname__, forged.__module__ = "check", infected.module.__name__
    infected.module.check = forged  # a global the agent's code may look up
    assert not infected.appraise().passed


def test_a_standard_library_method_whose_code_is_swapped_in_place_is_caught(
    infected: Infected,
) -> None:
    # The class and its namespace stay the same objects: only the function's code changes.
    method = hmac.HMAC.copy
    original = method.__code__
    method.__code__ = infected.implant["copy"].__code__  # type: ignore[attr-defined]
    try:
        assert not infected.appraise().passed
    finally:
        method.__code__ = original


def test_the_agents_own_method_swapped_in_place_is_caught_and_passes_once_restored(
    infected: Infected,
) -> None:
    # The module's code part is kept while its (qualname, digest) pairs are unchanged: a
    # swap must change it, and putting the genuine code back must pass again.
    method = type(infected.agent).seal
    original = method.__code__
    method.__code__ = infected.implant["seal"].__code__  # type: ignore[attr-defined]
    try:
        assert not infected.appraise().passed
        assert not infected.appraise().passed
    finally:
        method.__code__ = original
    assert infected.appraise().passed


def test_a_method_running_other_genuine_code_is_caught(infected: Infected) -> None:
    # Known code in the wrong place: `check` runs the standard library's `heapq.merge`,
    # whose generator is always true. Every code object is genuine, so what the names
    # are bound to looks clean; only the method's own code digest differs.
    method = type(infected.agent).check
    original = method.__code__
    method.__code__, method.__kwdefaults__ = heapq.merge.__code__, heapq.merge.__kwdefaults__
    try:
        assert infected.agent.check(b"forged", b"tag")  # type: ignore[attr-defined]
        assert not infected.appraise().passed
    finally:
        method.__code__, method.__kwdefaults__ = original, None
    assert infected.appraise().passed


def test_a_forged_wrapped_function_set_on_a_genuine_method_is_caught(
    infected: Infected,
) -> None:
    cls = type(infected.agent)
    genuine = cls.check
    forged = types.FunctionType(genuine.__code__, {"hmac": None})
    genuine.__wrapped__ = forged  # type: ignore[attr-defined]
    try:
        assert not infected.appraise().passed
    finally:
        del genuine.__wrapped__  # type: ignore[attr-defined]


def test_a_dispatch_table_changed_in_place_after_it_was_measured_is_caught(
    infected: Infected,
) -> None:
    # A table whose type carries no version tag (a dict subclass) is compared entry by
    # entry; a plain dict by its tag. Both are changed in place, no name rebound.
    ordered = OrderedDict({"aes-256-gcm": infected.module.CIPHERS["aes-256-gcm"]})
    infected.module.ORDERED = ordered
    infected.image.measure()
    infected.image.measure()
    assert infected.appraise().passed
    ordered["aes-256-gcm"] = infected.implant["PlaintextLogger"]
    assert not infected.appraise().passed
    ordered["aes-256-gcm"] = infected.module.CIPHERS["aes-256-gcm"]
    assert infected.appraise().passed
    infected.module.CIPHERS["aes-256-gcm"] = infected.implant["PlaintextLogger"]
    assert not infected.appraise().passed


def test_a_standard_library_class_rebound_after_it_was_measured_is_caught(
    infected: Infected, monkeypatch: pytest.MonkeyPatch
) -> None:
    infected.image.measure()
    monkeypatch.setattr(json.JSONDecoder, "decode", infected.implant["copy"])
    assert not infected.appraise().passed


def test_a_module_that_changes_every_round_is_still_looked_at(
    infected: Infected, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A harmless change marks hmac as a module that changes (examined every round from
    # then on, outside the kept layout): the attack after it must still be seen.
    for round_ in range(3):
        monkeypatch.setattr(hmac, "SECMAS_PROBE", round_, raising=False)
        assert infected.appraise().passed
    monkeypatch.setattr(hmac, "compare_digest", infected.implant["accept_any"])
    assert not infected.appraise().passed


def test_a_standard_library_module_first_imported_after_the_last_measurement_is_measured(
    infected: Infected, monkeypatch: pytest.MonkeyPatch
) -> None:
    infected.image.measure()
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    fresh = importlib.import_module("colorsys")  # a new module object, after the measurement
    monkeypatch.setattr(fresh, "rgb_to_yiq", infected.implant["accept_any"])
    assert not infected.appraise().passed


def test_a_genuine_method_rebound_under_another_name_is_caught(infected: Infected) -> None:
    # Genuine code from the package's own file, only bound under the wrong name: the
    # bindings find nothing foreign, the code measurement under `Agent.seal` must differ.
    cls = type(infected.agent)
    genuine = cls.seal
    cls.seal = cls.check  # type: ignore[method-assign]
    try:
        assert not infected.appraise().passed
    finally:
        cls.seal = genuine  # type: ignore[method-assign]
    assert infected.appraise().passed


def test_the_same_image_measured_from_two_threads_at_once_agrees(infected: Infected) -> None:
    with ThreadPoolExecutor(4) as pool:
        roots = {m.root for m in pool.map(lambda _: infected.image.measure(), range(8))}
    assert roots == {infected.image.measure().root}


def test_a_file_rewritten_with_its_modification_time_restored_is_caught(
    infected: Infected,
) -> None:
    path = infected.image.root / "core.py"
    before = path.stat()
    path.write_text(AGENT.replace("compare_digest(tag, expected)", "compare_digest(tag, tag)"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert not infected.appraise().passed


def test_the_demo_implant_is_caught_and_keeps_the_agent_running() -> None:
    from secmas.agents.ddos.agent import PoPAgent
    from secmas.pipeline import tamper

    original = PoPAgent._act.__code__
    root = Path(importlib.import_module("secmas").__file__ or "").parent
    image = RuntimeImage.of(wrap(root, Ed25519PrivateKey.generate()), root)
    try:
        before = image.measure()
        PoPAgent._act.__code__ = tamper.implant.__code__  # the class's code, rewritten
        assert f"code:{PoPAgent.__module__}" in image.measure().differing(before)
        journal: list[object] = []
        fake = types.SimpleNamespace(
            world=types.SimpleNamespace(
                journal=types.SimpleNamespace(action=journal.append),
                clock=types.SimpleNamespace(now=lambda: 1.0),
            ),
            pop="pop3",
        )
        PoPAgent._act(fake, "rate-limit", "link 1-2")  # type: ignore[arg-type]
        assert len(journal) == 1 and tamper.EXFILTRATED[-1] == ("rate-limit", "link 1-2")
    finally:
        PoPAgent._act.__code__ = original


def test_a_default_argument_rewritten_is_caught_and_passes_once_restored(
    infected: Infected,
) -> None:
    # No code, no name, no namespace changes: only the value a call falls back on.
    wait = type(infected.agent).wait
    genuine = wait.__defaults__
    wait.__defaults__ = (1e9,)
    try:
        assert infected.agent.wait() == 3e9  # type: ignore[attr-defined]
        assert not infected.appraise().passed
        assert not infected.appraise().passed
    finally:
        wait.__defaults__ = genuine
    assert infected.appraise().passed


def test_defaults_given_to_a_function_that_had_none_are_caught(infected: Infected) -> None:
    check = type(infected.agent).check
    check.__defaults__ = (b"forged",)
    try:
        assert not infected.appraise().passed
    finally:
        check.__defaults__ = None
    assert infected.appraise().passed


@pytest.mark.parametrize("in_place", [False, True], ids=["replaced", "in-place"])
def test_a_keyword_default_rewritten_is_caught_and_passes_once_restored(
    infected: Infected, in_place: bool
) -> None:
    wait = type(infected.agent).wait
    genuine = wait.__kwdefaults__
    assert genuine is not None
    if in_place:
        genuine["retries"] = 10**9
    else:
        wait.__kwdefaults__ = {"retries": 10**9}
    try:
        assert infected.agent.wait() == 5e9  # type: ignore[attr-defined]
        assert not infected.appraise().passed
    finally:
        genuine["retries"] = 3
        wait.__kwdefaults__ = genuine
    assert infected.appraise().passed


def test_a_closure_cell_rewritten_in_a_decorators_wrapper_is_caught(infected: Infected) -> None:
    # `verify` is the wrapper `limited(5.0)` made: its cell holds the timeout it passes,
    # which no file says; the measurement pins it when it first sees it (an agent measures
    # itself at start, ahead of any challenge).
    infected.image.measure()
    verify = infected.module.verify
    cell = verify.__closure__[verify.__code__.co_freevars.index("seconds")]
    cell.cell_contents = 1e9
    try:
        assert verify(b"answer") == 1e9
        assert not infected.appraise().passed
        assert not infected.appraise().passed
    finally:
        cell.cell_contents = 5.0
    assert infected.appraise().passed


@pytest.mark.parametrize("held", [1e9, "plain", type], ids=["number", "string", "class"])
def test_a_methods_class_cell_rewritten_is_caught(infected: Infected, held: object) -> None:
    # `super()` reads the method's `__class__` cell: whatever else it holds is caught.
    check = infected.module.Careful.check
    cell = check.__closure__[check.__code__.co_freevars.index("__class__")]
    cell.cell_contents = held
    try:
        assert not infected.appraise().passed
    finally:
        cell.cell_contents = infected.module.Careful
    assert infected.appraise().passed


def test_an_object_posing_as_a_method_with_its_genuine_code_is_caught(infected: Infected) -> None:
    # Not a function: an object that carries the genuine method's code as `__code__`, and
    # runs the implant's when called.
    cls = type(infected.agent)
    namespace: dict[str, object] = {}
    exec(
        compile(
            "import types\n"
            "class Impostor:\n"
            "    def __init__(self, code):\n"
            "        self.__code__ = code\n"
            "    def __call__(self, *args):\n"
            "        return args[-1]\n"
            "    def __get__(self, obj, owner):\n"
            "        return types.MethodType(self, obj)\n",
            "<implant>",
            "exec",
        ),
        namespace,
    )
    genuine = cls.seal
    cls.seal = namespace["Impostor"](genuine.__code__)  # type: ignore[operator]
    try:
        assert infected.agent.seal("aes-256-gcm", bytes(12), b"secret") == b"secret"  # type: ignore[attr-defined]
        assert not infected.appraise().passed
    finally:
        cls.seal = genuine  # type: ignore[method-assign]
    assert infected.appraise().passed
