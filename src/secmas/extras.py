"""Which extra brings which module, and the error a missing one gives:
`pip install secmas` is enough for `secmas demo`, the rest comes in extras
(docs/installation.md). Code imports an extra's modules only where it uses them; a run
checks what its options need before any work (`require`), and the `secmas` command turns a
missing one into one line naming the extra, exit 2 (`secmas.console`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "ml": ("torch", "sklearn", "scipy", "shap", "numba"),
    "ui": ("fastapi", "uvicorn", "starlette"),
    "cti": ("stix2", "medallion", "taxii2client"),
    "overlay": ("pyroute2",),
    "tpm": ("tpm2_pytss",),
}
"""The top-level modules each extra installs that `secmas` imports (or its imports do)."""

MODULE_EXTRA = {module: extra for extra, modules in EXTRA_MODULES.items() for module in modules}


class MissingExtra(ModuleNotFoundError):
    """A feature needs an extra that is not installed. `extras` in the order to install,
    `modules` the missing ones, `purpose` what needs them ('' when only the command knows)."""

    def __init__(self, extras: Sequence[str], modules: Sequence[str], purpose: str = "") -> None:
        self.extras = tuple(extras)
        self.modules = tuple(modules)
        self.purpose = purpose
        super().__init__(self.describe(purpose or "this"), name=self.modules[0])

    def describe(self, subject: str) -> str:
        """One line: `<subject> needs the 'ml' extra (torch is not installed): pip install …`."""
        names = " and ".join(f"'{e}'" for e in self.extras)
        noun = "extra" if len(self.extras) == 1 else "extras"
        lacking = ", ".join(self.modules[:3])
        if len(self.modules) > 3:
            lacking += f" and {len(self.modules) - 3} more"
        verb = "is" if len(self.modules) == 1 else "are"
        return (
            f"{subject} needs the {names} {noun} ({lacking} {verb} not installed): "
            f"{install_hint(self.extras)}"
        )


def install_hint(extras: Sequence[str]) -> str:
    """The commands that install `extras`: pip's, and the checkout's setup script's."""
    flags = " ".join(f"--{e}" for e in extras)
    return f"pip install 'secmas[{','.join(extras)}]' (in a checkout: ./scripts/setup {flags})"


def installed(module: str) -> bool:
    """Whether `module` (top level) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or an import hook refusing it
        return False


def require(extras: Iterable[str], purpose: str) -> None:
    """Raise `MissingExtra` unless every module of `extras` is installed."""
    wanted = list(dict.fromkeys(extras))
    lacking = [m for e in wanted for m in _checked(e) if not installed(m)]
    if lacking:
        needed = [e for e in wanted if any(MODULE_EXTRA[m] == e for m in lacking)]
        raise MissingExtra(needed, lacking, purpose)


def _checked(extra: str) -> tuple[str, ...]:
    # The modules an extra's users import first; numba and starlette come with shap and
    # fastapi, and `installed` on them would only repeat the answer.
    return tuple(m for m in EXTRA_MODULES[extra] if m not in ("numba", "starlette"))


def missing_extra(exc: BaseException) -> MissingExtra | None:
    """The extra behind a failed import: `exc` itself when it is a `MissingExtra`, else a
    `MissingExtra` for the extra that installs the module `exc` (or the exception it was
    raised from, `raise … from`) could not find; None when no extra provides it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MissingExtra):
            return current
        if isinstance(current, ModuleNotFoundError) and current.name:
            module = current.name.partition(".")[0]
            extra = MODULE_EXTRA.get(module)
            if extra is not None:
                return MissingExtra((extra,), (module,))
        current = current.__cause__
    return None
