"""Two-stage 1D-CNN microservice profiler (004_… Section 6.1.1, Annex A).

Section 6.1.1 of 004_e7e54a2542bcd055.txt describes a two-stage detector over windows of
microservice metrics (CPU, memory, network, latency, …; Table 1): a lightweight 1D-CNN first
separates normal from anomalous resource use, and only for windows it flags a more robust
1D-CNN names the anomaly. That second network has three kinds of answer: a known anomaly type,
"normal" (the first stage raised a false positive, which the second overturns), or "unknown"
(the pattern matches none of the known cases and needs an operator). Annex A gives both
architectures; `BinaryCNN` and `MulticlassCNN` follow them in PyTorch with these choices of
ours, which the source leaves open:

* convolutions use "same" padding, so windows as short as 2 steps fit (the max-pooling halves
  the time axis once); the source does not say which padding it used;
* the networks return logits: training uses cross-entropy on them, inference applies the
  softmax of Annex A (`probabilities`);
* `width` multiplies every layer width (1.0 = Annex A), so tests can use tiny networks;
* SeparableConv1D is a depthwise convolution (one kernel per input channel, no bias, as in
  Keras) followed by a 1×1 pointwise convolution with bias.

`TwoStageProfiler` adds what makes the scheme usable on imbalanced, open-set data:

* both stages are trained with class weights n / (K · n_k) (each present class contributes the
  same total weight, like scikit-learn's "balanced");
* "unknown" answers come from three places: windows labelled "unknown" in training teach
  stage 2 an explicit class; stage 2's top softmax probability below a calibrated confidence
  is rejected as "unknown" (the confidence is the `percentile`-th percentile, default 2, of the
  top probability of the validation windows stage 2 gets right); and a window outside the
  training envelope — some scaled channel more than `envelope_margin` (default 3) standard
  deviations beyond the smallest or largest value seen in training — is "unknown" whatever the
  networks say, because a CNN's softmax is often confident far from its training data (e.g. a
  disk storm on a service whose disk was idle in training);
* `stage1_threshold` (default 0.5) is the stage-1 probability of "anomalous" from which stage 2
  is consulted; lowering it trades stage-1 false positives, which stage 2 can overturn, for
  fewer missed anomalies;
* the networks see each scaled metric twice: as it is and relative to one step of the window
  (`anchor`, default "end": x − x[last]). A window's label is the state at its last step
  (`windows.window_labels`), and the global average pooling of Annex A forgets where in the
  window something happened: an episode that ended mid-window and one still going at its end
  average alike. Relative to the last step, the first is positive where it was, the second
  negative before it began. On the benchmark's CNF telemetry (benchmarks/bench_detection.py,
  5 training seeds) this lifted the 7-class macro F1 from 0.939 ± 0.007 with the window's
  first step as anchor (0.915 ± 0.016 with none) to 0.966 ± 0.003, past Random Forest's
  0.959 ± 0.001.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from secmas.analytics.modelfile import ModelFileError, load_model, save_model
from secmas.analytics.training import fit
from secmas.analytics.windows import Scaler

PROFILE_CLASSES: tuple[str, ...] = (
    "normal",
    "high_cpu",
    "high_memory",
    "traffic_spike",
    "load_step",
    "network_latency",
    "unknown",
)
"""The 7 classes of Table 3 of 004_…: normal, the five anomalies of Section 6.2, unknown."""

KIND = "profiler"
"""Model-file kind of a saved `TwoStageProfiler`."""

PATHS: tuple[str, ...] = (
    "envelope",
    "stage1_normal",
    "low_confidence",
    "overturned",
    "stage2_unknown",
    "stage2",
)
"""Decision paths reported by `TwoStageProfiler.predict_detailed`:

envelope        – outside the training envelope → "unknown" (networks not consulted);
stage1_normal   – stage 1 says normal → "normal";
low_confidence  – stage 2's top probability below the calibrated confidence → "unknown";
overturned      – stage 2 says "normal": a stage-1 false positive overturned → "normal";
stage2_unknown  – stage 2's top class is the trained "unknown" class → "unknown";
stage2          – stage 2 names a known anomaly type.
"""

Anchor = Literal["end", "start"]
"""The window step the networks' second set of channels is taken relative to."""
ANCHORS: tuple[Anchor, ...] = ("end", "start")

Progress = Callable[[str, int, int, float], None]
"""Training progress callback: (stage "binary"/"multiclass", epoch (1-based), epochs, mean loss)."""


def _units(n: int, width: float) -> int:
    return max(1, round(n * width))


class SeparableConv1d(nn.Module):
    """Depthwise (one kernel per channel, no bias) then pointwise 1×1 convolution."""

    def __init__(self, channels: int, filters: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(
            channels, channels, kernel, padding="same", groups=channels, bias=False
        )
        self.pointwise = nn.Conv1d(channels, filters, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class _WindowCNN(nn.Module):
    """Shared plumbing: input [N, T, C] → [N, C, T], conv body, global average pool, head."""

    def __init__(self, body: nn.Sequential, head: nn.Sequential) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, classes] of windows [N, T, C] (T ≥ 2)."""
        if x.dim() != 3:
            raise ValueError(f"expected windows [N, T, C], got shape {tuple(x.shape)}")
        if x.shape[1] < 2:
            raise ValueError(f"windows need at least 2 steps, got {x.shape[1]}")
        features = self.body(x.transpose(1, 2)).mean(dim=2)  # GlobalAveragePooling1D
        return self.head(features)


class BinaryCNN(_WindowCNN):
    """Lightweight 2-class 1D-CNN of Annex A (004_…): normal vs anomalous resource use.

    Conv1D(16, k5, ReLU) → BatchNorm → SeparableConv1D(32, k3, ReLU) → MaxPool(2) →
    Conv1D(64, k3, ReLU) → GlobalAvgPool → Dropout(0.25) → Dense(32, ReLU) → Dense(2).
    """

    def __init__(self, channels: int, width: float = 1.0, classes: int = 2) -> None:
        c1, c2, c3, d = (_units(n, width) for n in (16, 32, 64, 32))
        body = nn.Sequential(
            nn.Conv1d(channels, c1, 5, padding="same"),
            nn.ReLU(),
            nn.BatchNorm1d(c1),
            SeparableConv1d(c1, c2, 3),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(c2, c3, 3, padding="same"),
            nn.ReLU(),
        )
        head = nn.Sequential(nn.Dropout(0.25), nn.Linear(c3, d), nn.ReLU(), nn.Linear(d, classes))
        super().__init__(body, head)


class MulticlassCNN(_WindowCNN):
    """1D-CNN multiclass classifier of Annex A (004_…): which anomaly (7 classes).

    Conv1D(32, k5, ReLU) → BatchNorm → Conv1D(64, k3, ReLU) → MaxPool(2) →
    Conv1D(128, k3, ReLU) → GlobalAvgPool → Dropout(0.3) → Dense(64, ReLU) → Dense(7).
    """

    def __init__(
        self, channels: int, width: float = 1.0, classes: int = len(PROFILE_CLASSES)
    ) -> None:
        c1, c2, c3, d = (_units(n, width) for n in (32, 64, 128, 64))
        body = nn.Sequential(
            nn.Conv1d(channels, c1, 5, padding="same"),
            nn.ReLU(),
            nn.BatchNorm1d(c1),
            nn.Conv1d(c1, c2, 3, padding="same"),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(c2, c3, 3, padding="same"),
            nn.ReLU(),
        )
        head = nn.Sequential(nn.Dropout(0.3), nn.Linear(c3, d), nn.ReLU(), nn.Linear(d, classes))
        super().__init__(body, head)


def probabilities(model: nn.Module, windows: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Softmax output [N, classes] of `model` (put in eval mode) on scaled windows [N, T, C]."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(windows), batch):
            x = torch.tensor(windows[start : start + batch], dtype=torch.float32)
            out.append(torch.softmax(model(x), dim=1).numpy())
    if not out:
        return np.zeros((0, _out_features(model)), dtype=np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def _out_features(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return int(last.out_features)


def balanced_weights(targets: np.ndarray, classes: int) -> torch.Tensor:
    """Class weights n / (K · n_k) over the K classes present; 0 for absent classes."""
    counts = np.bincount(targets, minlength=classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(classes)
    weights[present] = len(targets) / (present.sum() * counts[present])
    return torch.as_tensor(weights, dtype=torch.float32)


def train_classifier(
    model: nn.Module,
    windows: np.ndarray,
    targets: np.ndarray,
    *,
    epochs: int,
    batch: int,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    stage: str = "",
    progress: Progress | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[float]:
    """Train `model` with Adam and class-weighted cross-entropy; mean loss of each epoch.

    With `validation` (windows, targets) the weights of the epoch with the lowest
    validation loss are kept (early stopping without stopping: `epochs` is a ceiling).
    """

    def told(epoch: int, loss: float, _val: float) -> None:
        if progress is not None:
            progress(stage, epoch, epochs, loss)

    def tensors(data: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.tensor(data[0], dtype=torch.float32),
            torch.tensor(data[1], dtype=torch.long),
        )

    losses = fit(
        model,
        nn.CrossEntropyLoss(weight=balanced_weights(targets, _out_features(model))),
        torch.optim.Adam(model.parameters(), lr=lr),
        tensors((windows, targets)),
        epochs=epochs,
        batch=batch,
        generator=generator,
        validation=None if validation is None else tensors(validation),
        on_epoch=told,
    )
    return losses.train


def _split(
    targets: np.ndarray, validation: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) index arrays; a class with one window stays in train."""
    train: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    for label in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == label))
        held = math.floor(len(members) * validation) if len(members) > 1 else 0
        valid.append(members[:held])
        train.append(members[held:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(valid))


@dataclass(frozen=True)
class Profiles:
    """Detailed output of `TwoStageProfiler.predict_detailed` for N windows."""

    labels: list[str]
    anomaly: np.ndarray
    """Stage-1 probability of "anomalous" [N]."""
    probabilities: np.ndarray
    """Stage-2 softmax [N, classes] (computed for every window, used where stage 1 flags)."""
    paths: list[str]
    """Decision path of each window, one of `PATHS`."""
    outside: np.ndarray = field(repr=False)
    """True where the window lies outside the training envelope [N]."""


class TwoStageProfiler:
    """Stage-1 `BinaryCNN` + stage-2 `MulticlassCNN` with open-set rejection (Section 6.1.1).

    Build one with `fit` or `load`; `predict` gives a label from `classes` per window.
    """

    def __init__(
        self,
        binary: BinaryCNN,
        multiclass: MulticlassCNN,
        scaler: Scaler,
        *,
        confidence: float,
        low: np.ndarray,
        high: np.ndarray,
        config: dict[str, Any],
    ) -> None:
        self.binary = binary.eval()
        self.multiclass = multiclass.eval()
        self.scaler = scaler
        self.confidence = float(confidence)
        """Stage-2 top probability below which a decision is rejected as "unknown"."""
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.config = dict(config)
        self.classes: tuple[str, ...] = tuple(config["classes"])
        self.stage1_threshold = float(config["stage1_threshold"])
        self.envelope_margin: float | None = config["envelope_margin"]
        self.anchor = _anchor(config)
        """The step the networks also see each metric relative to (None: not at all)."""
        self.history: dict[str, list[float]] = {}

    @property
    def channels(self) -> int:
        return int(self.config["channels"])

    @property
    def features(self) -> tuple[str, ...] | None:
        names = self.config.get("features")
        return tuple(names) if names is not None else None

    @classmethod
    def fit(
        cls,
        windows: np.ndarray,
        labels: Sequence[str],
        *,
        features: Sequence[str] | None = None,
        width: float = 1.0,
        epochs: int = 20,
        batch: int = 64,
        lr: float = 1e-3,
        validation: float = 0.2,
        percentile: float = 2.0,
        envelope_margin: float | None = 3.0,
        stage1_threshold: float = 0.5,
        anchor: Anchor | None = "end",
        classes: Sequence[str] = PROFILE_CLASSES,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> TwoStageProfiler:
        """Train both stages on raw windows [N, T, C] labelled with names of `classes`.

        `classes` defaults to the 7 of Table 3 (`PROFILE_CLASSES`); another deployment's set
        (e.g. the attacks recorded on the emulated CNF) must start with "normal", the class
        stage 1 separates from the rest, and may hold "unknown" as the trained open-set class.

        A stratified `validation` share is held out for calibrating the rejection confidence
        (the training windows are used when it is empty); the `Scaler` and the envelope come
        from the remaining training windows. Stage 1 learns "normal" vs every other label,
        stage 2 all classes. Deterministic for a given `seed` on one machine.
        """
        x = _windows(windows)
        _anchor({"anchor": anchor})
        classes = _classes(classes)
        names = [str(label) for label in labels]
        if len(names) != len(x):
            raise ValueError(f"{len(x)} windows but {len(names)} labels")
        strange = sorted(set(names) - set(classes))
        if strange:
            raise ValueError(f"labels {strange} are not profile classes {list(classes)}")
        targets = np.array([classes.index(n) for n in names], dtype=np.int64)
        if not (targets == 0).any() or (targets == 0).all():
            raise ValueError("training needs both normal and anomalous windows")
        if features is not None and len(features) != x.shape[2]:
            raise ValueError(f"{len(features)} feature names for {x.shape[2]} channels")
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        train, valid = _split(targets, validation, rng)
        scaler = Scaler.fit(x[train])
        scaled_train = scaler.transform(x[train])
        config: dict[str, Any] = {
            "channels": int(x.shape[2]),
            "window": int(x.shape[1]),
            "width": float(width),
            "classes": list(classes),
            "features": list(features) if features is not None else None,
            "stage1_threshold": float(stage1_threshold),
            "envelope_margin": envelope_margin,
            "percentile": float(percentile),
            "anchor": anchor,
        }
        inputs = _inputs(scaled_train, anchor)
        held_inputs = _inputs(scaler.transform(x[valid]), anchor)
        binary = BinaryCNN(inputs.shape[2], width)
        multiclass = MulticlassCNN(inputs.shape[2], width, len(classes))
        history = {
            "binary": train_classifier(
                binary,
                inputs,
                (targets[train] != 0).astype(np.int64),
                validation=(held_inputs, (targets[valid] != 0).astype(np.int64)),
                epochs=epochs,
                batch=batch,
                lr=lr,
                generator=generator,
                stage="binary",
                progress=progress,
            ),
            "multiclass": train_classifier(
                multiclass,
                inputs,
                targets[train],
                validation=(held_inputs, targets[valid]),
                epochs=epochs,
                batch=batch,
                lr=lr,
                generator=generator,
                stage="multiclass",
                progress=progress,
            ),
        }
        held = valid if len(valid) else train
        top = probabilities(multiclass, _inputs(scaler.transform(x[held]), anchor))
        correct = top.argmax(axis=1) == targets[held]
        confidence = (
            float(np.percentile(top.max(axis=1)[correct], percentile)) if correct.any() else 0.0
        )
        profiler = cls(
            binary,
            multiclass,
            scaler,
            confidence=confidence,
            low=scaled_train.min(axis=(0, 1)),
            high=scaled_train.max(axis=(0, 1)),
            config=config,
        )
        profiler.history = history
        return profiler

    def inputs(self, scaled: np.ndarray) -> np.ndarray:
        """The networks' input [N, T, C or 2·C] for scaled windows [N, T, C]."""
        return _inputs(scaled, self.anchor)

    def outside(self, windows: np.ndarray) -> np.ndarray:
        """[N] bool: the window leaves the training envelope by more than the margin."""
        scaled = self.scaler.transform(self._check(windows))
        return self._outside(scaled)

    def _outside(self, scaled: np.ndarray) -> np.ndarray:
        if self.envelope_margin is None or len(scaled) == 0:
            return np.zeros(len(scaled), dtype=bool)
        margin = float(self.envelope_margin)
        over = (scaled > self.high + margin) | (scaled < self.low - margin)
        return over.any(axis=(1, 2))

    def _check(self, windows: np.ndarray) -> np.ndarray:
        x = _windows(windows)
        if x.shape[2] != self.channels:
            raise ValueError(f"profiler expects {self.channels} channels, got {x.shape[2]}")
        return x

    def predict_detailed(self, windows: np.ndarray) -> Profiles:
        """Labels with stage-1 / stage-2 probabilities and the decision path of each window."""
        scaled = self.scaler.transform(self._check(windows))
        inputs = self.inputs(scaled)
        anomaly = probabilities(self.binary, inputs)[:, 1]
        second = probabilities(self.multiclass, inputs)
        outside = self._outside(scaled)
        labels: list[str] = []
        paths: list[str] = []
        for i in range(len(scaled)):
            best = int(second[i].argmax())
            if outside[i]:
                label, path = "unknown", "envelope"
            elif anomaly[i] < self.stage1_threshold:
                label, path = "normal", "stage1_normal"
            elif second[i, best] < self.confidence:
                label, path = "unknown", "low_confidence"
            elif self.classes[best] == "normal":
                label, path = "normal", "overturned"
            elif self.classes[best] == "unknown":
                label, path = "unknown", "stage2_unknown"
            else:
                label, path = self.classes[best], "stage2"
            labels.append(label)
            paths.append(path)
        return Profiles(labels, anomaly, second, paths, outside)

    def predict(self, windows: np.ndarray) -> list[str]:
        """One label of `classes` per raw window [N, T, C]."""
        return self.predict_detailed(windows).labels

    def predict_binary(self, windows: np.ndarray) -> list[str]:
        """Stage 1 alone: "normal" or "anomalous" per window (the Table 2 task)."""
        scaled = self.scaler.transform(self._check(windows))
        anomaly = probabilities(self.binary, self.inputs(scaled))[:, 1]
        return ["anomalous" if p >= self.stage1_threshold else "normal" for p in anomaly]

    def save(self, path: str | Path) -> None:
        """Write a model file of kind "profiler" (config, both state dicts, scaler, …)."""
        state = {f"binary.{k}": v for k, v in self.binary.state_dict().items()}
        state |= {f"multiclass.{k}": v for k, v in self.multiclass.state_dict().items()}
        config = self.config | {
            "stage1_threshold": self.stage1_threshold,
            "envelope_margin": self.envelope_margin,
        }
        extras = {
            "scaler": self.scaler.to_json(),
            "confidence": self.confidence,
            "classes": list(self.classes),
            "envelope": {"low": self.low.tolist(), "high": self.high.tolist()},
        }
        save_model(path, KIND, config, state, extras)

    @classmethod
    def load(cls, path: str | Path) -> TwoStageProfiler:
        """Read a profiler model file; ModelFileError (naming the file) when it does not fit."""
        model = load_model(path, KIND)
        try:
            config = dict(model.config)
            channels, width = int(config["channels"]), float(config["width"])
            classes = tuple(model.extras["classes"])
            inputs = channels * (2 if _anchor(config) else 1)
            binary = BinaryCNN(inputs, width)
            multiclass = MulticlassCNN(inputs, width, len(classes))
            for prefix, net in (("binary.", binary), ("multiclass.", multiclass)):
                part = {k[len(prefix) :]: v for k, v in model.state.items() if k.startswith(prefix)}
                net.load_state_dict(part)
            envelope = model.extras["envelope"]
            low = np.asarray(envelope["low"], dtype=np.float32)
            high = np.asarray(envelope["high"], dtype=np.float32)
            if low.shape != (channels,) or high.shape != (channels,):
                raise ValueError(f"envelope does not have {channels} channels")
            config["classes"] = list(classes)
            return cls(
                binary,
                multiclass,
                Scaler.from_json(model.extras["scaler"]),
                confidence=float(model.extras["confidence"]),
                low=low,
                high=high,
                config=config,
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ModelFileError(f"{path}: not a usable profiler ({error})") from error


def _inputs(scaled: np.ndarray, anchor: Anchor | None) -> np.ndarray:
    """The networks' input channels: the scaled metrics and, with an `anchor`, each metric
    relative to its value at the window's last ("end") or first ("start") step. The second
    set makes a trend (a memory leak's slow ramp, a load step) and, anchored at the end,
    its place in the window as plain to the convolutions as a level is: global average
    pooling would otherwise average both away (module docstring)."""
    if anchor is None:
        return scaled
    step = scaled[:, -1:, :] if anchor == "end" else scaled[:, :1, :]
    return np.concatenate([scaled, scaled - step], axis=2).astype(np.float32)


def _anchor(config: dict[str, Any]) -> Anchor | None:
    """The anchor of a profiler's config; files written before `anchor` existed say
    `anchored` (true: the window's start)."""
    anchor = (
        config["anchor"] if "anchor" in config else ("start" if config.get("anchored") else None)
    )
    if anchor is not None and anchor not in ANCHORS:
        raise ValueError(f"anchor {anchor!r} is none of {list(ANCHORS)} or None")
    return anchor


def _classes(classes: Sequence[str]) -> tuple[str, ...]:
    """`classes` as a tuple, checked: distinct names, "normal" first (stage 1's negative)."""
    names = tuple(str(c) for c in classes)
    if len(names) < 2 or names[0] != "normal":
        raise ValueError(f"profile classes must start with 'normal' and name one more: {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"profile classes repeat a name: {names}")
    return names


def _windows(windows: np.ndarray) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected windows [N, T, C], got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError(f"windows need at least 2 steps, got {x.shape[1]}")
    return x
