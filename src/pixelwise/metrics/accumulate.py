"""Accumulating metrics: exact over a whole dataset and across data-parallel processes.

Averaging per-batch scores is wrong for every metric that is not a plain mean: Dice, PSNR of a
dataset, correlation and medians all depend on how the data is split into batches (and, under
``torchrun``, into processes). A :class:`Metric` instead accumulates sufficient statistics
(sums, extremes, or the values themselves) with :meth:`Metric.update`, merges them across
processes with :meth:`Metric.sync`, and computes the score once with :meth:`Metric.compute`.

The usual cycle, which the engine runs for a task's ``metrics`` on every evaluation::

    metric.reset(); metric.to(device)
    for batch in loader: metric.update(prediction, target)
    metric.sync()             # every process, in the same order
    score = metric.compute()  # identical on every process

States are detached, so updates may run under ``torch.inference_mode()``. A task whose metric is
a ratio of two sums can instead return a :class:`Sum` from ``validation_step``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor

from pixelwise.errors import ConfigError
from pixelwise.losses.segmentation import class_label_mask
from pixelwise.metrics.regression import psnr

Reduction = Literal["sum", "cat", "max", "min"]
_REDUCTIONS = ("sum", "cat", "max", "min")


class Sum(NamedTuple):
    """A batch's ``total`` and ``count``, returned by ``validation_step`` in place of a mean.

    The engine adds the totals and the counts over all batches and processes and reports
    ``total / count`` at the end, which is exact whatever the batch sizes (a mean of batch
    means weights every batch equally; a batch-size-weighted mean is only right when every
    sample contributes equally to ``count``).

    Examples
    --------
    >>> errors = torch.tensor([1.0, 3.0, float("nan")])  # NaN: position not annotated
    >>> annotated = errors.isfinite()
    >>> Sum(errors[annotated].sum(), annotated.sum())
    Sum(total=tensor(4.), count=tensor(2))
    """

    total: Tensor | float
    # The field shadows tuple.count, which mypy reports; the name is the engine's interface.
    count: Tensor | float  # type: ignore[assignment]


class Metric(abc.ABC):
    """Base class: named tensor states, each with the reduction that merges two of them.

    A subclass registers its states in ``__init__`` with :meth:`add_state`, folds each batch
    into them with :meth:`accumulate` in :meth:`update`, and reads them with :meth:`state` in
    :meth:`compute`, which must not change them. Reductions:

    * ``"sum"``, ``"max"``, ``"min"``: element-wise over batches and processes; the state
      keeps the default's shape;
    * ``"cat"``: batches (and then processes, in rank order) are concatenated along dim 0.
    """

    def __init__(self) -> None:
        self._defaults: dict[str, tuple[Tensor, Reduction]] = {}
        self._tensors: dict[str, Tensor] = {}  # "sum", "max", "min" states
        self._chunks: dict[str, list[Tensor]] = {}  # "cat" states, concatenated when read
        self._device = torch.device("cpu")
        self._synced = False

    def add_state(self, name: str, default: Tensor, reduction: Reduction) -> None:
        """Register state ``name`` starting at ``default`` (restored by :meth:`reset`)."""
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        if name in self._defaults:
            raise ValueError(f"state {name!r} is already registered")
        if reduction == "cat" and default.ndim == 0:
            raise ValueError(f"'cat' state {name!r} needs a default with a dim 0 to grow along")
        self._defaults[name] = (default.detach().to(self._device).clone(), reduction)
        self._set(name, default)

    def _set(self, name: str, value: Tensor) -> None:
        """Replace state ``name`` by a copy of ``value`` on the metric's device."""
        value = value.to(self._device, copy=True)
        if self._defaults[name][1] == "cat":
            self._chunks[name] = [value]
        else:
            self._tensors[name] = value

    def accumulate(self, name: str, value: Tensor) -> None:
        """Fold ``value`` into state ``name`` with the state's reduction (detached, no grad)."""
        if self._synced:
            raise RuntimeError(
                f"{type(self).__name__} was synchronised across processes; reset() it before "
                "updating it again, or the synchronised part would be counted twice"
            )
        default, reduction = self._defaults[name]
        value = value.detach().to(default.device, default.dtype)
        if reduction == "cat":
            if value.shape[1:] != default.shape[1:]:
                raise ValueError(
                    f"state {name!r} holds rows of shape {tuple(default.shape[1:])}, "
                    f"got values of shape {tuple(value.shape)}"
                )
            self._chunks[name].append(value)
            return
        if value.shape != default.shape:
            raise ValueError(
                f"state {name!r} has shape {tuple(default.shape)}, got {tuple(value.shape)}"
            )
        current = self._tensors[name]
        if reduction == "sum":
            self._tensors[name] = current + value
        elif reduction == "max":
            self._tensors[name] = torch.maximum(current, value)
        else:
            self._tensors[name] = torch.minimum(current, value)

    def state(self, name: str) -> Tensor:
        """The current value of state ``name`` (``"cat"`` states concatenated)."""
        return torch.cat(self._chunks[name]) if name in self._chunks else self._tensors[name]

    @abc.abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> None:
        """Fold one batch into the states (each subclass defines its own arguments)."""

    @abc.abstractmethod
    def compute(self) -> Tensor:
        """The metric over everything accumulated: a 0-d or 1-D tensor; states are unchanged."""

    def reset(self) -> None:
        """Return every state to its default, ready for a new pass over the data."""
        for name, (default, _) in self._defaults.items():
            self._set(name, default)
        self._synced = False

    def to(self, device: torch.device | str) -> Metric:
        """Move the states (and defaults) to ``device`` in place; return ``self``."""
        self._device = torch.device(device)
        for name, (default, reduction) in self._defaults.items():
            self._defaults[name] = (default.to(self._device), reduction)
        self._tensors = {name: value.to(self._device) for name, value in self._tensors.items()}
        self._chunks = {
            name: [chunk.to(self._device) for chunk in chunks]
            for name, chunks in self._chunks.items()
        }
        return self

    def sync(self) -> None:
        """Merge the states of all processes, so each holds the states of the whole dataset.

        A collective operation when ``torch.distributed`` is initialised with several
        processes: every process must call it, after its last update, with the same metrics
        in the same order. ``"sum"``/``"max"``/``"min"`` states are all-reduced, ``"cat"``
        states all-gathered as objects (so each process may hold a different number of rows;
        works on Gloo and NCCL). A no-op in a single process. Calling it again before
        :meth:`reset` does nothing; updating a synchronised metric is an error.
        """
        if self._synced:
            return
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            self._all_reduce()
        self._synced = True

    def _all_reduce(self) -> None:
        backend = dist.get_backend()
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if backend == "nccl"
            else torch.device("cpu")
        )
        operations = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        for name, (_, reduction) in self._defaults.items():
            local = self.state(name)
            if reduction == "cat":
                gathered: list = [None] * dist.get_world_size()
                dist.all_gather_object(gathered, local.cpu())
                self._set(name, torch.cat(gathered))
            else:
                # A copy: updates under inference_mode leave inference tensors, which cannot
                # be modified in place outside it.
                reduced = local.to(device, copy=True)
                dist.all_reduce(reduced, op=operations[reduction])
                self._set(name, reduced)


def _ratio(numerator: Tensor, denominator: Tensor, metric: Metric) -> Tensor:
    """``numerator / denominator``, refusing to report a metric that saw no data."""
    if not bool((denominator > 0).any()):
        raise RuntimeError(f"{type(metric).__name__}.compute(): no data was accumulated")
    return numerator / denominator


def _check_pair(prediction: Tensor, target: Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(
            f"shape mismatch: prediction {tuple(prediction.shape)} vs target {tuple(target.shape)}"
        )


class Mean(Metric):
    """Weighted mean of all values passed to :meth:`update` (float64).

    Examples
    --------
    >>> mean = Mean()
    >>> mean.update(torch.tensor([1.0, 2.0]))
    >>> mean.update(torch.tensor(4.0), weight=2.0)
    >>> mean.compute().item()
    2.75
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("weight", torch.zeros((), dtype=torch.float64), "sum")

    def update(self, values: Tensor | float, weight: Tensor | float | None = None) -> None:
        """Add ``values`` (any shape), each with ``weight`` (broadcast to it; default 1)."""
        values = torch.as_tensor(values, dtype=torch.float64)
        weights = torch.ones_like(values) if weight is None else torch.as_tensor(weight)
        weights = torch.broadcast_to(weights.to(values), values.shape)
        self.accumulate("total", (values * weights).sum())
        self.accumulate("weight", weights.sum())

    def compute(self) -> Tensor:
        return _ratio(self.state("total"), self.state("weight"), self)


class MeanSquaredError(Metric):
    """Mean squared error over every element of every batch (float64).

    Examples
    --------
    >>> metric = MeanSquaredError()
    >>> metric.update(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]))
    >>> metric.update(torch.tensor([3.0]), torch.tensor([0.0]))
    >>> round(metric.compute().item(), 4)
    4.6667
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_state("squared_error", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros((), dtype=torch.int64), "sum")

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Add a batch of predictions and targets of one shape."""
        _check_pair(prediction, target)
        self.accumulate("squared_error", (prediction.double() - target.double()).square().sum())
        self.accumulate("count", torch.tensor(target.numel()))

    def compute(self) -> Tensor:
        return _ratio(self.state("squared_error"), self.state("count"), self)


class PSNR(Metric):
    """Mean over images of each image's PSNR in dB, ``10 log10(data_range^2 / MSE_image)``.

    The mean of per-image PSNRs is what denoising benchmarks report, and it weights every image
    equally; the PSNR of the dataset's pooled MSE would instead be dominated by the few images
    with the largest errors. An image reproduced exactly has an infinite PSNR, and so then has
    the mean. ``data_range`` is explicit, as in :func:`pixelwise.metrics.psnr`.

    Examples
    --------
    >>> metric = PSNR(data_range=1.0)
    >>> metric.update(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.1))
    >>> round(metric.compute().item(), 6)
    20.0
    """

    def __init__(self, data_range: float) -> None:
        super().__init__()
        if not data_range > 0:
            raise ConfigError(f"PSNR data_range must be positive, got {data_range}")
        self.data_range = float(data_range)
        self.add_state("total", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("images", torch.zeros((), dtype=torch.int64), "sum")

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Add a batch ``(N, ...)`` of ``N`` images."""
        _check_pair(prediction, target)
        if prediction.ndim < 2:
            raise ValueError(f"expected a batch (N, ...) of images, got {tuple(prediction.shape)}")
        scores = [psnr(p, t, self.data_range) for p, t in zip(prediction, target, strict=True)]
        self.accumulate("total", torch.stack(scores).sum())
        self.accumulate("images", torch.tensor(len(scores)))

    def compute(self) -> Tensor:
        return _ratio(self.state("total"), self.state("images"), self)


class PearsonR(Metric):
    """Pearson correlation of all predictions with all targets, from streaming float64 sums.

    The six sums (count, x, y, x², y², xy) merge exactly across batches and processes. The
    centred moments are recovered as ``Σxy - ΣxΣy/n``; in float64 this keeps about
    ``16 - 2 log10(|mean| / std)`` significant digits, ample for data that is not offset by
    many orders of magnitude more than it varies.

    Examples
    --------
    >>> metric = PearsonR()
    >>> metric.update(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
    >>> metric.update(torch.tensor([3.0]), torch.tensor([7.0]))
    >>> round(metric.compute().item(), 4)
    0.9934
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_state("sums", torch.zeros(6, dtype=torch.float64), "sum")

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Add a batch of predictions and targets of one shape."""
        _check_pair(prediction, target)
        x, y = prediction.double().flatten(), target.double().flatten()
        count = torch.tensor(float(x.numel()), dtype=torch.float64, device=x.device)
        moments = [count, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
        self.accumulate("sums", torch.stack(moments))

    def compute(self) -> Tensor:
        n, sx, sy, sxx, syy, sxy = self.state("sums").unbind()
        if not n > 0:
            raise RuntimeError("PearsonR.compute(): no data was accumulated")
        covariance = sxy - sx * sy / n
        return covariance / torch.sqrt((sxx - sx * sx / n) * (syy - sy * sy / n))


class Dice(Metric):
    """Dice coefficient per class, ``2 |P ∩ T| / (|P| + |T|)``, over the whole dataset.

    Intersections and cardinalities are counted over every pixel seen, so small and large
    images weigh by their pixels and a class absent from some batches is still scored
    correctly (the mean of batch Dice is neither). A class absent from both predictions and
    targets over the whole dataset is NaN in the per-class vector and left out of the mean.

    Parameters
    ----------
    num_classes
        Number of classes ``C``.
    include_background
        Keep class 0 in the result.
    per_class
        :meth:`compute` returns the per-class vector instead of its mean.
    ignore_index
        Target label of pixels to leave out (unannotated), or None.

    Examples
    --------
    >>> dice = Dice(num_classes=2, per_class=True)
    >>> dice.update(torch.tensor([[0, 1, 1, 1]]), torch.tensor([[0, 0, 1, 1]]))
    >>> [round(value, 4) for value in dice.compute().tolist()]
    [0.6667, 0.8]
    """

    def __init__(
        self,
        num_classes: int,
        *,
        include_background: bool = True,
        per_class: bool = False,
        ignore_index: int | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1 or (num_classes < 2 and not include_background):
            raise ConfigError(
                f"Dice needs at least {1 if include_background else 2} classes, got {num_classes}"
            )
        self.num_classes = num_classes
        self.include_background = include_background
        self.per_class = per_class
        self.ignore_index = ignore_index
        for name in ("intersection", "predicted", "actual"):
            self.add_state(name, torch.zeros(num_classes, dtype=torch.int64), "sum")

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Add a batch: ``prediction`` as labels ``(N, *S)`` or class scores ``(N, C, *S)``.

        ``target`` holds integer labels ``(N, *S)``.
        """
        if prediction.ndim == target.ndim + 1:
            if prediction.shape[1] != self.num_classes:
                raise ValueError(
                    f"prediction scores have {prediction.shape[1]} classes, "
                    f"expected {self.num_classes}"
                )
            prediction = prediction.argmax(dim=1)
        _check_pair(prediction, target)
        valid = class_label_mask(target, self.num_classes, self.ignore_index)
        predicted = prediction[valid]
        class_label_mask(predicted, self.num_classes)
        actual = target[valid]
        hits = actual[predicted == actual]
        for name, labels in (("intersection", hits), ("predicted", predicted), ("actual", actual)):
            self.accumulate(name, torch.bincount(labels, minlength=self.num_classes))

    def compute(self) -> Tensor:
        intersection = self.state("intersection").double()
        cardinality = (self.state("predicted") + self.state("actual")).double()
        if not bool(cardinality.any()):
            raise RuntimeError("Dice.compute(): no labelled pixel was accumulated")
        scores = 2.0 * intersection / cardinality  # 0 / 0 = NaN for classes never seen
        if not self.include_background:
            scores = scores[1:]
        return scores if self.per_class else scores.nanmean()


class Quantile(Metric):
    """Exact quantile(s) of all values, linearly interpolated (NumPy's default method).

    Every value is kept (a ``"cat"`` state), so memory grows with the data: meant for per-image
    or per-position scores of a validation set, not for every pixel of a large one. NaN among
    the values gives NaN, as in :func:`numpy.quantile`.

    Parameters
    ----------
    q
        A quantile in ``[0, 1]`` (compute returns a 0-d tensor) or a sequence of them (1-D).

    Examples
    --------
    >>> metric = Quantile([0.25, 0.5])
    >>> metric.update(torch.tensor([4.0, 1.0, 3.0]))
    >>> metric.update(torch.tensor([2.0]))
    >>> metric.compute().tolist()
    [1.75, 2.5]
    """

    def __init__(self, q: float | Sequence[float]) -> None:
        super().__init__()
        self.q = torch.as_tensor(q, dtype=torch.float64)
        if self.q.ndim > 1 or not bool(((self.q >= 0) & (self.q <= 1)).all()):
            raise ConfigError(f"quantiles must lie in [0, 1], got {q}")
        self.add_state("values", torch.empty(0, dtype=torch.float64), "cat")

    def update(self, values: Tensor) -> None:
        """Add ``values`` of any shape (flattened)."""
        self.accumulate("values", values.flatten())

    def compute(self) -> Tensor:
        values = self.state("values")
        if values.numel() == 0:
            raise RuntimeError(f"{type(self).__name__}.compute(): no data was accumulated")
        ordered = values.sort().values
        position = self.q.to(values.device) * (values.numel() - 1)
        low = position.floor().long()
        high = position.ceil().long()
        result = torch.lerp(ordered[low], ordered[high], position - low)
        return torch.where(values.isnan().any(), torch.nan, result)


class Median(Quantile):
    """Exact median of all values (the mean of the two middle values for an even count).

    Examples
    --------
    >>> metric = Median()
    >>> metric.update(torch.tensor([5.0, 1.0, 2.0, 10.0]))
    >>> metric.compute().item()
    3.5
    """

    def __init__(self) -> None:
        super().__init__(0.5)


class BoundaryError(Metric):
    """Mean absolute error of layer-boundary positions in pixels, over annotated positions.

    Inputs are ``(N, B, W)``: the row of each of ``B`` boundaries in each of ``W`` columns;
    non-finite targets (NaN) mark positions that are not annotated and are skipped. The scalar
    result pools all annotated positions; ``per_boundary=True`` gives the ``(B,)`` vector of
    each boundary's mean (NaN for a boundary never annotated).

    Examples
    --------
    >>> metric = BoundaryError(num_boundaries=2, per_boundary=True)
    >>> target = torch.tensor([[[10.0, float("nan")], [20.0, 22.0]]])
    >>> metric.update(target + 1.0, target)
    >>> metric.compute().tolist()
    [1.0, 1.0]
    """

    def __init__(self, num_boundaries: int, *, per_boundary: bool = False) -> None:
        super().__init__()
        if num_boundaries < 1:
            raise ConfigError(f"num_boundaries must be >= 1, got {num_boundaries}")
        self.num_boundaries = num_boundaries
        self.per_boundary = per_boundary
        self.add_state("absolute_error", torch.zeros(num_boundaries, dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros(num_boundaries, dtype=torch.int64), "sum")

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Add a batch of predicted and annotated positions ``(N, B, W)``."""
        _check_pair(prediction, target)
        if target.ndim != 3 or target.shape[1] != self.num_boundaries:
            raise ValueError(
                f"expected (N, {self.num_boundaries}, W) boundary positions, "
                f"got {tuple(target.shape)}"
            )
        annotated = torch.isfinite(target)
        error = torch.where(annotated, (prediction.double() - target.double()).abs(), 0.0)
        self.accumulate("absolute_error", error.sum(dim=(0, 2)))
        self.accumulate("count", annotated.sum(dim=(0, 2)))

    def compute(self) -> Tensor:
        error, count = self.state("absolute_error"), self.state("count")
        pooled = _ratio(error.sum(), count.sum(), self)
        return error / count if self.per_boundary else pooled
