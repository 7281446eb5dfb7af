"""The one registry of segmentation methods: what each reads, how it loads, what it predicts.

A method is one `MethodEntry`: its name, its *input kind* (`INPUT_KINDS`), the models that ship
for it (K -> weights file), its predictor builder, and, when it trains, its LightningModule,
recipes and training data. Everything that runs a method (``motionlayers segment``, the Python
API `motionlayers.segment`, ``train``, ``methods``) reads this table; a new method is one module
that calls `register_method` (or one entry in `BUILTIN` for the package's own) plus a recipe.

Names of code are ``"package.module:attribute"`` strings, imported on first use, so that the
table costs nothing to read (``motionlayers methods`` and ``--help`` do not import torch) and a
heavy method (Lightning, a big network) loads only when chosen. A callable works too (a test or
a user's script registers its own function).

**The predictor contract.** ``build(layers, device, weights, **options)`` returns a predictor
for K = ``layers`` (already resolved, `resolve_layers`), on ``device``, from the weights file
``weights`` (a ``--checkpoint`` or the shipped model; None for a method without weights). The
predictor is called on a batch of samples of the entry's input kind:

==============  ==================================  =========================================
input kind      samples                             masks returned
==============  ==================================  =========================================
flow-pair       flows ``(B, 2, h, w)`` (pixels)     ``(B, K, h, w)``
flow-volume     volumes ``(B, 2, T, h, w)``          ``(B, K, T, h, w)`` (``T = entry.volume``)
frames          frames ``(B, 3, h, w)`` RGB [0, 1]  ``(B, K, h, w)``
event-window    a list of B `Events` windows        ``(B, K, H, W)`` at the sensor's size
==============  ==================================  =========================================

A ``frame-pair`` entry is a flow network (SoFlow): ``train`` trains it, ``--flow NAME`` runs
it (`motionlayers.methods.flow_backend`), ``--method`` refuses it; ``build`` is its backend.

It returns soft masks, label maps (the same shape without K, int) or a pair ``(masks, theta)``
with per-layer motion models ``theta (B, [T,] K, 2, J)``; an object may instead offer
``predict_masks(samples)``. `Method` wraps any of these into ``Prediction(masks, theta)`` with
masks non-negative and summing to one over K, checked against the batch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motionlayers.defaults import DEFAULT_LAYERS, SHIPPED_MODELS
from motionlayers.errors import InputError, ShapeError

if TYPE_CHECKING:
    import torch

INPUT_KINDS = ("flow-pair", "flow-volume", "frames", "event-window", "frame-pair")
"""What a method reads; see the table in the module doc. ``frame-pair``: a flow network (it
estimates flow and segments nothing), trained by ``train`` and run as a flow backend."""
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
"""Where the shipped models and their model cards are installed."""

CodeRef = str | Callable[..., Any]


def resolve(ref: CodeRef) -> Any:
    """The object a ``"package.module:attribute"`` string names (a callable is returned as is)."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class MethodEntry:
    """One registered method.

    Attributes:
        name: what ``--method`` takes.
        input: its input kind (`INPUT_KINDS`).
        summary: one line for ``motionlayers methods``.
        build: predictor builder ``(layers, device, weights, **options)`` (see the module doc).
        shipped: K -> weights file name in `WEIGHTS_DIR` (the first is the default model);
            empty for a method without shipped weights.
        layers: K when neither ``--layers`` nor a checkpoint says (methods without weights);
            None: the K of the default shipped model.
        fixed_layers: whether a network fixes K (its weights' K must match ``--layers``).
        volume: T, the flows per sample of a flow-volume method; 1 otherwise.
        stride: frames between the starts of consecutive volumes (1: one volume per frame, whose
            central masks are kept; ``volume``: disjoint chunks, every mask kept).
        any_length: a flow-volume method that reads volumes of any length (LT-MS): ``volume``
            and ``stride`` are then its default chunk (``--chunk`` and ``--chunk-overlap``
            change them; ``--chunk 0`` reads the whole video in one pass).
        module: its ``LightningModule`` class (None: not trainable).
        load: its checkpoint loader ``(path, map_location) -> module``.
        recipes: names of its recipes in ``motionlayers/configs`` (the first is the default).
        datasets: its training data ``(config) -> (train, val)``; None: flow pairs
            (`motionlayers.methods.train.flow_datasets`).
        options: keyword options its builder takes beyond the contract (``refine_iterations``).
    """

    name: str
    input: str
    summary: str
    build: CodeRef
    shipped: Mapping[int, str] = field(default_factory=dict)
    layers: int | None = None
    fixed_layers: bool = False
    volume: int = 1
    stride: int = 1
    any_length: bool = False
    module: CodeRef | None = None
    load: CodeRef | None = None
    recipes: tuple[str, ...] = ()
    datasets: CodeRef | None = None
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.input not in INPUT_KINDS:
            raise ValueError(
                f"method {self.name}: input {self.input!r} is not one of {INPUT_KINDS}"
            )
        if self.volume < 1 or not 1 <= self.stride <= self.volume:
            raise ValueError(f"method {self.name}: need 1 <= stride <= volume")
        if self.input != "flow-volume" and (self.volume != 1 or self.any_length):
            raise ValueError(f"method {self.name}: only a flow-volume method has a volume")

    @property
    def config(self) -> str | None:
        """The default recipe (None: not trainable)."""
        return self.recipes[0] if self.recipes else None

    @property
    def trainable(self) -> bool:
        return self.module is not None

    def shipped_path(self, layers: int | None = None) -> Path | None:
        """The installed weights file for K = ``layers`` (None: the default model), or None
        when no model for that K ships."""
        if not self.shipped:
            return None
        name = self.shipped.get(layers) if layers is not None else next(iter(self.shipped.values()))
        return WEIGHTS_DIR / name if name else None

    def lightning_module(self) -> Any:
        if self.module is None:
            raise InputError("method", f"{self.name} is not trainable (no LightningModule)")
        return resolve(self.module)

    def checkpoint_loader(self) -> Callable[..., Any]:
        if self.load is None:
            raise InputError("method", f"{self.name} has no checkpoint loader")
        return resolve(self.load)

    def dataset_builder(self) -> Callable[..., Any] | None:
        return None if self.datasets is None else resolve(self.datasets)


BUILTIN = (
    MethodEntry(
        name="em",
        input="flow-pair",
        summary="EM-driven network, one flow at a time (thesis ch. 2)",
        build="motionlayers.methods.em_network:build_predictor",
        shipped=SHIPPED_MODELS["em"],
        fixed_layers=True,
        module="motionlayers.methods.em:EMMethod",
        load="motionlayers.methods.em:load_em_model",
        recipes=("em", "em-default", "em-k4", "em-tiny"),
    ),
    MethodEntry(
        name="st",
        input="flow-volume",
        summary="ST-MS: triplets of flows, temporally consistent (thesis ch. 3)",
        build="motionlayers.methods.st_network:build_predictor",
        shipped=SHIPPED_MODELS["st"],
        fixed_layers=True,
        volume=3,
        stride=1,
        module="motionlayers.methods.st:STMSMethod",
        load="motionlayers.methods.st:load_st_model",
        recipes=("st", "st-k2", "st-davis-k4", "st-davis-k2", "st-tiny"),
        datasets="motionlayers.methods.st:build_st_datasets",
    ),
    MethodEntry(
        name="lt",
        input="flow-volume",
        summary="LT-MS: long volumes of flows, B-spline motions, transformer (thesis ch. 4)",
        build="motionlayers.methods.lt_network:build_predictor",
        shipped=SHIPPED_MODELS["lt"],
        fixed_layers=True,
        volume=12,
        stride=10,
        any_length=True,
        module="motionlayers.methods.lt:LTMSMethod",
        load="motionlayers.methods.lt:load_lt_model",
        recipes=("lt-davis-k4", "lt-davis-k2", "lt", "lt-tiny"),
        datasets="motionlayers.methods.lt:build_lt_datasets",
    ),
    MethodEntry(
        name="nims",
        input="flow-pair",
        summary="NIMS: robust layers, the salient ones picked by an explained classifier (ch. 5)",
        build="motionlayers.methods.nims:build_predictor",
        shipped=SHIPPED_MODELS["nims"],
        fixed_layers=True,
        module="motionlayers.methods.nims:NIMSMethod",
        load="motionlayers.methods.nims:load_nims_model",
        recipes=("nims-parallax", "nims-crowd", "nims-tiny"),
        datasets="motionlayers.methods.nims:build_saliency_datasets",
        options=("gate",),
    ),
    MethodEntry(
        name="bdmm",
        input="flow-pair",
        summary="BDMM: a U-Net masks the salient motion, trained against the classifier (ch. 6)",
        build="motionlayers.methods.bdmm:build_predictor",
        layers=2,
        fixed_layers=True,
        module="motionlayers.methods.bdmm:BDMMMethod",
        load="motionlayers.methods.bdmm:load_bdmm_model",
        recipes=("bdmm-crowd", "bdmm-parallax", "bdmm-tiny"),
        datasets="motionlayers.methods.nims:build_saliency_datasets",
    ),
    MethodEntry(
        name="soflow",
        input="frame-pair",
        summary="SoFlow / RAFT-small: a recurrent flow network (appendix D); use as --flow",
        build="motionlayers.methods.flow_backend:LearnedFlowBackend",
        module="motionlayers.methods.soflow:SoFlowMethod",
        load="motionlayers.methods.soflow:load_soflow_model",
        recipes=("soflow", "raft-small-synthetic", "soflow-small-objects", "soflow-tiny"),
        datasets="motionlayers.methods.soflow:build_flow_datasets",
    ),
    MethodEntry(
        name="classical-em",
        input="flow-pair",
        summary="EM on each flow, no network (thesis ch. 2 baseline)",
        build="motionlayers.methods.baselines:build_classical_em",
        layers=DEFAULT_LAYERS,
        options=("initialisations", "iterations", "irls", "likelihood", "model", "seed"),
    ),
    MethodEntry(
        name="robust-layers",
        input="flow-pair",
        summary="robust parametric layers fitted one after another (classical baseline)",
        build="motionlayers.methods.baselines:build_robust_layers",
        layers=DEFAULT_LAYERS,
        options=("beta", "model", "iterations"),
    ),
    MethodEntry(
        name="evlayerseg",
        input="event-window",
        summary="EV-LayerSegNet: event windows, trained by deblurring, refined at test time",
        build="motionlayers.methods.evlayerseg:build_predictor",
        shipped=SHIPPED_MODELS["evlayerseg"],
        fixed_layers=True,
        module="motionlayers.methods.evlayerseg:EVLayerSegMethod",
        load="motionlayers.methods.evlayerseg:load_evlayerseg_model",
        recipes=("evlayerseg", "evlayerseg-small", "evlayerseg-selftrain", "evlayerseg-tiny"),
        datasets="motionlayers.methods.evlayerseg:build_event_datasets",
        options=("refine_iterations",),
    ),
)

METHODS: dict[str, MethodEntry] = {entry.name: entry for entry in BUILTIN}
"""Method name -> entry; `register_method` adds to it."""


def register_method(entry: MethodEntry, *, replace: bool = False) -> MethodEntry:
    """Add ``entry`` to `METHODS` (``replace=True`` to change an existing name)."""
    if entry.name in METHODS and not replace:
        raise ValueError(f"method {entry.name!r} is registered already (pass replace=True)")
    METHODS[entry.name] = entry
    return entry


def unregister_method(name: str) -> None:
    """Remove ``name`` from `METHODS` (a test's or a script's own method)."""
    METHODS.pop(name, None)


def available_methods(input: str | None = None) -> list[str]:
    """The registered segmentation methods, sorted; only those reading ``input`` when given
    (``"frame-pair"``: the flow networks)."""
    if input is None:
        return sorted(n for n, e in METHODS.items() if e.input != "frame-pair")
    return sorted(n for n, e in METHODS.items() if e.input == input)


def get_entry(name: str) -> MethodEntry:
    """The entry of segmentation method ``name``; an unknown name fails with the valid names,
    a flow network's with how to use it."""
    if name not in METHODS:
        raise InputError(
            "--method", f"unknown method {name!r}; valid: {', '.join(available_methods())}"
        )
    if METHODS[name].input == "frame-pair":
        raise InputError(
            "--method", f"{name} is a flow network, not a segmentation method: pass --flow {name}"
        )
    return METHODS[name]


def get_trainable(name: str) -> MethodEntry:
    """The entry of a trainable method ``name`` (a flow network too); any other name fails
    with the trainable ones."""
    entry = METHODS.get(name)
    if entry is None or entry.input != "frame-pair":
        entry = get_entry(name)
    if not entry.trainable:
        trainable = ", ".join(n for n in sorted(METHODS) if METHODS[n].trainable)
        raise InputError("method", f"{name} is not trainable; trainable methods: {trainable}")
    return entry


def resolve_layers(
    entry: MethodEntry, requested: int | None, checkpoint: str | Path | None = None
) -> tuple[int, Path | None]:
    """The one place where K is decided: ``(K, weights file)`` of method ``entry`` for a user's
    ``--layers`` (None: unset) and ``--checkpoint``.

    - A checkpoint fixes K (its hyperparameters'); ``requested`` must agree.
    - Else a shipped model: the one for ``requested``, or the default one; a K without a
      shipped model is an error that lists the K that ship and says how to train one.
    - Else (no weights) ``requested``, or the entry's own ``layers``.
    """
    from motionlayers.limits import check_layers

    if requested is not None:
        check_layers(requested)
    if checkpoint is not None:
        if not entry.fixed_layers and not entry.shipped:
            raise InputError("--checkpoint", f"method {entry.name} takes no checkpoint")
        from motionlayers.methods.weights import checkpoint_layers

        trained = checkpoint_layers(checkpoint)
        _check_agrees(entry, requested, trained, Path(checkpoint).name)
        return trained, Path(checkpoint)
    if entry.shipped:
        if requested is not None and requested not in entry.shipped:
            recipe = f" --config {entry.config}" if entry.config else ""
            raise InputError(
                "--layers",
                f"no {entry.name} model for K={requested} ships with motionlayers (shipped: "
                f"K={', '.join(str(k) for k in entry.shipped)}); train one (motionlayers train "
                f"{entry.name}{recipe} -o OUT with model.layers={requested}) and pass "
                "--checkpoint",
            )
        layers = requested if requested is not None else next(iter(entry.shipped))
        path = entry.shipped_path(layers)
        assert path is not None
        return layers, path
    if requested is None and entry.layers is None:
        raise InputError("--layers", f"method {entry.name} needs --layers")
    return (requested if requested is not None else int(entry.layers or 0)), None


def _check_agrees(entry: MethodEntry, requested: int | None, trained: int, name: str) -> None:
    if requested is not None and requested != trained:
        raise InputError(
            "--layers",
            f"the model {name} segments into K={trained} layers, not {requested}; omit "
            f"--layers, or pass a checkpoint trained with model.layers={requested}",
        )


@dataclass
class Prediction:
    """A method's answer for a batch: ``masks (B, K, [T,] H, W)`` soft, summing to one over K;
    ``theta (B, [T,] K, 2, J)`` per-layer motion models when the method gives them."""

    masks: torch.Tensor
    theta: torch.Tensor | None = None


class Method:
    """A built method: ``method(samples) -> Prediction`` for a batch of its input kind.

    ``entry`` is its registration, ``layers`` its K, ``weights`` the file it loaded (None for a
    method without weights), ``predictor`` what the builder returned.
    """

    def __init__(self, entry: MethodEntry, layers: int, predictor: Any, weights: Path | None):
        self.entry = entry
        self.name = entry.name
        self.layers = layers
        self.predictor = predictor
        self.weights = weights

    def __call__(self, samples: Any) -> Prediction:
        import torch

        with torch.no_grad():
            if hasattr(self.predictor, "predict_masks"):
                out = self.predictor.predict_masks(samples)
            else:
                out = self.predictor(samples)
        masks, theta = out if isinstance(out, tuple) else (out, None)
        batch, spatial = self._expected(samples)
        if masks.ndim == len(spatial) + 1 and not masks.is_floating_point():
            masks = _one_hot(masks, self.layers)
        if (
            masks.ndim != len(spatial) + 2
            or masks.shape[0] != batch
            or masks.shape[1] != self.layers
            or (spatial and tuple(masks.shape[2:]) != spatial)
        ):
            want = f"(B={batch}, K={self.layers}, {', '.join(map(str, spatial)) or '...'})"
            raise ShapeError(
                f"method {self.name}: expected masks {want} or their labels, "
                f"got {tuple(masks.shape)}"
            )
        device = getattr(samples, "device", masks.device)
        masks = masks.to(device, torch.float32).clamp_min(0)
        masks = masks / masks.sum(1, keepdim=True).clamp_min(1e-8)
        return Prediction(masks, None if theta is None else theta.to(device))

    def _expected(self, samples: Any) -> tuple[int, tuple[int, ...]]:
        """Batch size and the spatial (and temporal) shape the masks must have."""
        if self.entry.input == "event-window":
            sizes = {tuple(reversed(w.sensor_size)) for w in samples}
            return len(samples), sizes.pop() if len(sizes) == 1 else ()
        if self.entry.input == "flow-volume":
            return samples.shape[0], (samples.shape[2], *samples.shape[-2:])
        return samples.shape[0], tuple(samples.shape[-2:])


def _one_hot(labels: torch.Tensor, layers: int) -> torch.Tensor:
    import torch

    return torch.nn.functional.one_hot(labels.long(), layers).movedim(-1, 1).float()


def get_method(
    name: str,
    layers: int | None = None,
    device: str = "cpu",
    checkpoint: str | Path | None = None,
    **options: Any,
) -> Method:
    """Build method ``name`` for ``--layers`` ``layers`` and ``--checkpoint`` ``checkpoint``
    (K and the weights decided by `resolve_layers`); ``options`` go to its builder and must be
    among its entry's ``options``."""
    entry = get_entry(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        takes = ", ".join(entry.options) or "none"
        raise InputError(
            "options", f"method {name} does not take {', '.join(unknown)} (it takes: {takes})"
        )
    count, weights = resolve_layers(entry, layers, checkpoint)
    if weights is not None and checkpoint is None:
        from motionlayers.methods.weights import require_shipped

        train = f"motionlayers train {name} --config {entry.config} -o OUT"
        require_shipped(weights, name, train)
    predictor = resolve(entry.build)(layers=count, device=device, weights=weights, **options)
    return Method(entry, count, predictor, weights)


__all__ = [
    "BUILTIN",
    "INPUT_KINDS",
    "METHODS",
    "Method",
    "MethodEntry",
    "Prediction",
    "WEIGHTS_DIR",
    "available_methods",
    "get_entry",
    "get_method",
    "get_trainable",
    "register_method",
    "resolve",
    "resolve_layers",
    "unregister_method",
]
