"""Run a validated pipeline on an array, or on image files with outputs and a manifest.

Two lines from a file to results on disk::

    pipeline = load_pipeline("denoise_deblur_sharpen")   # a file path or a shipped example
    manifest = pipeline.run_files(["photos/"], "restored/")
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pixelwise import __version__
from pixelwise.errors import InputError, PixelwiseError
from pixelwise.io.images import collect_image_files, read_raw_image, to_float_image
from pixelwise.nodes.base import as_image
from pixelwise.pipeline.catalog import resolve_pipeline_path
from pixelwise.pipeline.graph import INPUT_PORT, Graph, Step, build_graph
from pixelwise.pipeline.manifest import InputRecord, Manifest, StepRecord, sha256_file
from pixelwise.pipeline.outputs import image_format_for, plan_outputs, write_outputs
from pixelwise.pipeline.schema import PipelineSpec, read_pipeline_file


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
        data, raw = read_pipeline_file(path)
        spec, graph = build_graph(data, path)
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

    def _execute(self, image: np.ndarray) -> tuple[dict[str, Any], dict[str, float]]:
        """All step outputs, and the seconds each step took."""
        values = {str(INPUT_PORT): as_image(image, "pipeline input")}
        seconds: dict[str, float] = {}
        for step in self.graph.steps:
            inputs = {key: values[str(port)] for key, port in step.sources.items()}
            start = time.perf_counter()
            try:
                outputs = step.node.run(inputs)
            except PixelwiseError as error:
                raise InputError(f"step '{step.name}' ({step.node.name})", str(error)) from error
            seconds[step.name] = time.perf_counter() - start
            values.update({f"{step.name}.{key}": value for key, value in outputs.items()})
        del values[str(INPUT_PORT)]
        return values, seconds

    def _new_manifest(self) -> Manifest:
        return Manifest(
            pipeline=self.name,
            pipeline_file=str(self.source.resolve()) if self.source else None,
            pipeline_sha256=self.source_sha256,
            pixelwise_version=__version__,
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
    ) -> Manifest:
        """Run on image files (folders expand to their images) and write results to ``out_dir``.

        Results go to ``out_dir/<input stem>_<step>.<ext>`` (formats: see
        :mod:`pixelwise.pipeline.outputs`) and ``out_dir/manifest.json`` records the run. Inputs
        run in order; the first failure stops the run: the failing input keeps no output, and
        the manifest, rewritten atomically after every input, lists only the completed ones
        plus the error. Returns the manifest.
        """
        files = collect_image_files([inputs] if isinstance(inputs, str | Path) else inputs)
        if not files:
            raise InputError("inputs", "no input images given")
        _check_distinct_stems(files)
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(out_dir, "output path exists and is not a folder")
        manifest = self._new_manifest()
        with _progress_bar(enabled=progress) as bar:
            task = bar.add_task(self.name, total=len(files))
            for path in files:
                bar.update(task, description=f"{self.name}: {path.name}")
                try:
                    manifest.inputs.append(self._run_file(path, out_dir, manifest))
                except BaseException as error:
                    manifest.error = f"{path}: {error or type(error).__name__}"
                    manifest.write(out_dir)
                    raise
                manifest.write(out_dir)
                bar.advance(task)
        return manifest

    def _run_file(self, path: Path, out_dir: Path, manifest: Manifest) -> InputRecord:
        raw = read_raw_image(path)
        try:
            results, seconds = self._execute(to_float_image(raw, path))
        except PixelwiseError as error:
            raise InputError(path, str(error)) from error
        image_format = image_format_for(path.suffix, raw.dtype)
        written = write_outputs(plan_outputs(self.graph), results, out_dir, path.stem, image_format)
        for record in manifest.steps:
            record.seconds += seconds[record.name]
        return InputRecord(
            path=str(path.resolve()),
            sha256=sha256_file(path),
            shape=list(raw.shape),
            dtype=str(raw.dtype),
            outputs=written,
            seconds=seconds,
        )


def _check_distinct_stems(files: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise InputError(
                path, f"has the same name stem as {seen[path.stem]}; their outputs would collide"
            )
        seen[path.stem] = path


def _progress_bar(*, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def load_pipeline(pipeline: str | Path) -> Pipeline:
    """Load and validate a pipeline file, or a shipped example given by name."""
    return Pipeline.from_file(resolve_pipeline_path(pipeline))
