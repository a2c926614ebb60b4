"""Run a validated pipeline on an array, or on image files with outputs and a manifest.

Two lines from a file to results on disk::

    pipeline = load_pipeline("denoise_deblur_sharpen")   # a file path or a shipped example
    run = pipeline.run_files(["photos/"], "restored/")

Running on files never loses data:

* every input is listed and hashed before anything is written, and a run whose outputs would
  overwrite an input, or a file in the output folder that pixelwise did not write, is refused
  before anything is written (write to another folder instead); only files that the folder's
  manifest lists as pixelwise outputs are rewritten;
* when the output folder is also given as an input folder, the pixelwise outputs in it are
  not inputs (a rerun does not process ``q_gaussian.png`` into ``q_gaussian_gaussian.png``);
* the output folder is locked for the run: a second run into it fails at once;
* an input gets all its outputs or none, and ``manifest.json`` gains one record per run
  (see :mod:`pixelwise.pipeline.manifest`), rewritten atomically after every input;
* SIGTERM is handled like Ctrl-C: the run stops, no temporary file is left, and the manifest
  says it was interrupted, by which signal, and which inputs were not processed.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pixelwise import __version__
from pixelwise.engine.progress import RichProgress
from pixelwise.errors import InputError, OutputError, PixelwiseError
from pixelwise.io.atomic import locked_folder
from pixelwise.io.images import collect_image_files, read_raw_image, to_float_image
from pixelwise.nodes.base import as_image
from pixelwise.pipeline.catalog import resolve_pipeline_path
from pixelwise.pipeline.graph import INPUT_PORT, Graph, Step, build_graph
from pixelwise.pipeline.manifest import (
    MANIFEST_NAME,
    FailureRecord,
    InputRecord,
    Manifest,
    RunRecord,
    StepRecord,
    sha256_file,
)
from pixelwise.pipeline.outputs import (
    PlannedOutput,
    check_targets,
    image_format_for,
    plan_outputs,
    write_outputs,
)
from pixelwise.pipeline.schema import PipelineSpec, read_pipeline_file
from pixelwise.signals import Interrupted, terminate_as_interrupt

_PHASE = "inputs"


class Pipeline:
    """A validated pipeline of nodes, ready to run on arrays or files.

    Build one with :meth:`from_file` or :meth:`from_dict`; both validate everything first and
    raise one :class:`~pixelwise.pipeline.schema.PipelineConfigError` listing every problem.
    """

    def __init__(
        self,
        spec: PipelineSpec,
        graph: Graph,
        *,
        source: Path | None = None,
        source_sha256: str | None = None,
    ) -> None:
        self.spec = spec
        self.graph = graph
        self.source = source
        self.source_sha256 = source_sha256

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> Pipeline:
        """Validate parsed pipeline ``data``; ``source`` names it in error messages."""
        spec, graph = build_graph(data, source)
        return cls(spec, graph)

    @classmethod
    def from_file(cls, path: str | Path) -> Pipeline:
        """Read, parse (``yaml.safe_load``) and validate the pipeline file at ``path``."""
        path = Path(path)
        data, raw, lines = read_pipeline_file(path)
        spec, graph = build_graph(data, path, lines)
        return cls(spec, graph, source=path, source_sha256=hashlib.sha256(raw).hexdigest())

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps in execution order."""
        return self.graph.steps

    def run(self, image: np.ndarray) -> dict[str, Any]:
        """Run every step on ``image``; return all step outputs keyed ``"step.output"``."""
        results, _ = self._execute(image)
        return results

    def _execute(
        self, image: np.ndarray, notes: list[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, float]]:
        """All step outputs, and the seconds each step took; warnings go to ``notes`` if given."""
        values = {str(INPUT_PORT): as_image(image, "pipeline input")}
        seconds: dict[str, float] = {}
        for step in self.graph.steps:
            inputs = {key: values[str(port)] for key, port in step.sources.items()}
            start = time.perf_counter()
            try:
                with _warnings_as_notes(notes, f"step '{step.name}'"):
                    outputs = step.node.run(inputs)
            except PixelwiseError as error:
                raise InputError(f"step '{step.name}' ({step.node.name})", str(error)) from error
            seconds[step.name] = time.perf_counter() - start
            values.update({f"{step.name}.{key}": value for key, value in outputs.items()})
        del values[str(INPUT_PORT)]
        return values, seconds

    def _new_run(self) -> RunRecord:
        return RunRecord(
            pipeline=self.name,
            pipeline_file=str(self.source.resolve()) if self.source else None,
            pipeline_sha256=self.source_sha256,
            pixelwise_version=__version__,
            status="running",
            started=_now(),
            steps=[
                StepRecord(
                    name=step.name,
                    node=step.node.name,
                    node_version=step.node.version,
                    params=step.node.params.model_dump(mode="json"),
                )
                for step in self.graph.steps
            ],
        )

    def run_files(
        self,
        inputs: str | Path | Iterable[str | Path],
        out_dir: str | Path,
        progress: bool = True,
        keep_going: bool = False,
    ) -> RunRecord:
        """Run on image files (folders expand to their images) and write results to ``out_dir``.

        Results go to ``out_dir/<input stem>_<step>.<ext>`` (formats: see
        :mod:`pixelwise.pipeline.outputs`) and the run is added to ``out_dir/manifest.json``.
        Inputs run in order. The first failure stops the run, unless ``keep_going``: then
        every input that fails is recorded with its reason and the others still run (a
        problem with the output folder itself, such as a full disk, always stops the run).
        See the module docstring for what is refused before anything is written.

        Returns
        -------
        RunRecord
            This run's record, as in the manifest; ``failures`` is empty unless
            ``keep_going`` let the run continue past a failure.

        Raises
        ------
        InputError, OutputError
            For a bad input (at the first failure, without ``keep_going``), a refused output
            or an unusable output folder, naming the file.
        Interrupted
            On SIGINT or SIGTERM, after the manifest has recorded the interruption.
        """
        given = [inputs] if isinstance(inputs, str | Path) else list(inputs)
        if not given:
            raise InputError("inputs", "no input images given")
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(out_dir, "exists and is not a folder; give a folder for the outputs")
        files = collect_image_files(given)
        with terminate_as_interrupt(), locked_folder(out_dir):
            manifest = Manifest.read(out_dir)
            pixelwise_files = set(manifest.files)
            files = _without_outputs(files, given, out_dir, pixelwise_files)
            _check_distinct_stems(files)
            plan = plan_outputs(self.graph)
            check_targets(plan, files, out_dir, pixelwise_files)
            hashes = _hash_inputs(files)
            run = self._new_run()
            manifest.runs.append(run)
            reporter = RichProgress(enabled=progress)
            reporter.start(_PHASE, len(files), self.name)
            try:
                self._run_inputs(run, manifest, files, hashes, plan, out_dir, keep_going, reporter)
            finally:
                reporter.finish(_PHASE)
        return run

    def _run_inputs(
        self,
        run: RunRecord,
        manifest: Manifest,
        files: list[Path],
        hashes: dict[Path, str | InputError],
        plan: list[PlannedOutput],
        out_dir: Path,
        keep_going: bool,
        reporter: RichProgress,
    ) -> None:
        """Process ``files`` into ``run``, writing ``manifest`` at the start and after each."""
        started = time.perf_counter()
        remaining = list(files)
        current: Path | None = None
        try:
            manifest.write(out_dir)
            while remaining:
                current = remaining[0]
                notes: list[str] = []
                try:
                    record = self._process_input(current, hashes[current], plan, out_dir, notes)
                except Exception as error:
                    del remaining[0]
                    run.failures.append(
                        FailureRecord(
                            path=str(current.resolve()),
                            error=_one_line(error, current),
                            notes=notes,
                        )
                    )
                    if not keep_going or isinstance(error, OutputError):
                        raise
                else:
                    run.inputs.append(record)
                    del remaining[0]
                    for step in run.steps:
                        step.seconds += record.seconds[step.name]
                current = None
                manifest.write(out_dir)
                reporter.advance(_PHASE, {"failed": len(run.failures)} if run.failures else None)
            run.status = "completed_with_failures" if run.failures else "completed"
            _finish(run, started)
            manifest.write(out_dir)
        except BaseException as error:
            _record_stop(run, error, current, remaining)
            _finish(run, started)
            with contextlib.suppress(PixelwiseError):  # the first error is the one to report
                manifest.write(out_dir)
            if isinstance(error, Interrupted):
                raise Interrupted(
                    error.signum,
                    f"{out_dir / MANIFEST_NAME}: run interrupted by {error.signal_name}; "
                    f"{len(remaining)} of {len(files)} inputs not processed (listed there)",
                ) from None
            raise

    def _process_input(
        self,
        path: Path,
        sha256: str | InputError,
        plan: list[PlannedOutput],
        out_dir: Path,
        notes: list[str],
    ) -> InputRecord:
        """Read, run and write one input; library warnings go to ``notes``."""
        if isinstance(sha256, InputError):
            raise sha256
        with _warnings_as_notes(notes, "reading"):
            raw = read_raw_image(path)
            image = to_float_image(raw, path)
        try:
            results, seconds = self._execute(image, notes)
        except PixelwiseError as error:
            raise InputError(path, str(error)) from None
        with _warnings_as_notes(notes, "writing"):
            image_format = image_format_for(path.suffix, raw.dtype)
            written = write_outputs(plan, results, out_dir, path.stem, image_format)
        return InputRecord(
            path=str(path.resolve()),
            sha256=sha256,
            shape=list(raw.shape),
            dtype=str(raw.dtype),
            outputs=written,
            seconds=seconds,
            notes=notes,
        )


@contextlib.contextmanager
def _warnings_as_notes(notes: list[str] | None, where: str) -> Iterator[None]:
    """Record the warnings of the block in ``notes`` as one-line texts instead of printing them.

    The warning filters in force decide which warnings count. With ``notes`` None, warnings
    behave as usual.
    """
    if notes is None:
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        try:
            yield
        finally:
            for item in caught:
                note = f"{where}: {item.category.__name__}: {' '.join(str(item.message).split())}"
                if note not in notes:
                    notes.append(note)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finish(run: RunRecord, started: float) -> None:
    run.finished = _now()
    run.seconds = time.perf_counter() - started


def _one_line(error: BaseException, path: Path | None) -> str:
    """``error`` as one line: a PixelwiseError names its file already, others get ``path``."""
    if isinstance(error, PixelwiseError):
        text = str(error)
    else:
        text = f"{path}: " if path is not None else ""
        text += f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def _record_stop(
    run: RunRecord, error: BaseException, current: Path | None, remaining: list[Path]
) -> None:
    """Record in ``run`` why it stopped early and which inputs it did not process."""
    run.unprocessed = [str(path.resolve()) for path in remaining]
    if isinstance(error, KeyboardInterrupt):
        run.status = "interrupted"
        run.signal = error.signal_name if isinstance(error, Interrupted) else "SIGINT"
        run.error = f"interrupted by {run.signal}"
        if current is not None:
            run.error += f" while processing {current}"
    else:
        run.status = "failed"
        run.error = _one_line(error, current)


def _hash_inputs(files: list[Path]) -> dict[Path, str | InputError]:
    """The SHA-256 of every input before anything is written, or why it cannot be read."""
    hashes: dict[Path, str | InputError] = {}
    for path in files:
        try:
            hashes[path] = sha256_file(path)
        except InputError as error:
            hashes[path] = error
    return hashes


def _without_outputs(
    files: list[Path], given: list[str | Path], out_dir: Path, outputs: set[str]
) -> list[Path]:
    """``files`` less the pixelwise ``outputs`` found by expanding the output folder itself.

    Files named one by one are kept: naming an output is asking to process it.
    """
    folder = out_dir.resolve()
    named = {Path(path).resolve() for path in given if not Path(path).is_dir()}
    kept = [
        path
        for path in files
        if path.resolve() in named or path.parent.resolve() != folder or path.name not in outputs
    ]
    if not kept:
        raise InputError(out_dir, "holds only pixelwise outputs of earlier runs; nothing to run on")
    return kept


def _check_distinct_stems(files: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise InputError(
                path, f"has the same name stem as {seen[path.stem]}; their outputs would collide"
            )
        seen[path.stem] = path


def load_pipeline(pipeline: str | Path) -> Pipeline:
    """Load and validate a pipeline file, or a shipped example given by name."""
    return Pipeline.from_file(resolve_pipeline_path(pipeline))
