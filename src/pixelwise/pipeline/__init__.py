"""Pipelines: restoration-studio nodes composed in a YAML/JSON file and run on images.

pipeline = load_pipeline("photo_finish")          # a file path or a shipped example
run = pipeline.run_files(["photos/"], "out/")      # this run's record in out/manifest.json
"""

from pixelwise.pipeline.catalog import example_pipeline_path, list_example_pipelines
from pixelwise.pipeline.graph import Graph, Port, Step
from pixelwise.pipeline.manifest import Manifest, RunRecord
from pixelwise.pipeline.runner import Pipeline, load_pipeline
from pixelwise.pipeline.schema import PipelineConfigError, PipelineSpec, StepSpec

__all__ = [
    "Graph",
    "Manifest",
    "Pipeline",
    "PipelineConfigError",
    "PipelineSpec",
    "Port",
    "RunRecord",
    "Step",
    "StepSpec",
    "example_pipeline_path",
    "list_example_pipelines",
    "load_pipeline",
]
