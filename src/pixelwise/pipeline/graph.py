"""Turn a parsed pipeline file into a validated, ordered graph of node instances.

Validation runs before anything is computed and collects every problem it finds (file
structure, unknown nodes and parameters, bad parameter values, duplicate step names, wiring
to unknown steps or outputs, kind mismatches, unwired inputs, cycles) into a single
:class:`~pixelwise.pipeline.schema.PipelineConfigError`.

Wiring rules: a step input is wired with ``inputs: {input_name: ref}`` where ``ref`` is
``"input"`` (the pipeline's input image), ``"step.output"`` or ``"step"`` (that step's only
output, or its only output of the kind the input takes). A step's *first* image input, when
not wired, takes the image output of the closest previous step in the file that produces an
image, or the pipeline input for the first such step; this makes a linear chain need no
wiring. Other inputs (kernels, a second image such as a reference) must be wired explicitly,
so that, say, a PSNR step never silently compares an image with itself. An input takes
outputs of its own kind, or of a kind it widens without loss (an image into a field input, a
mask into a label input: :meth:`~pixelwise.nodes.Kind.accepts`); label maps and fields never
feed image inputs, which would rescale or truncate them.
"""

from __future__ import annotations

import contextlib
import difflib
import graphlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pixelwise.errors import ConfigError
from pixelwise.nodes import Kind, Node, get_node_class
from pixelwise.pipeline.schema import (
    PIPELINE_INPUT,
    Lines,
    PipelineConfigError,
    PipelineSpec,
    StepSpec,
    line_prefix,
    pipeline_problems,
)


@dataclass(frozen=True)
class Port:
    """One output of a step, or the pipeline input (``input.image``)."""

    step: str
    output: str

    def __str__(self) -> str:
        return f"{self.step}.{self.output}"


INPUT_PORT = Port(PIPELINE_INPUT, "image")


@dataclass(frozen=True, eq=False)
class Step:
    """A validated step: its name, its node instance and the port feeding each node input."""

    name: str
    node: Node
    sources: dict[str, Port]


@dataclass(frozen=True, eq=False)
class Graph:
    """Steps in execution order and the ports whose values are the pipeline's results."""

    steps: tuple[Step, ...]
    outputs: tuple[Port, ...]


def _hint(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _without_unknown_fields(data: dict[str, Any], error: ValidationError) -> dict[str, Any]:
    """``data`` less the fields ``error`` reports as unknown (top level and in steps).

    The unknown fields are already reported; dropping them lets the rest of the file, and of
    each step, still be checked, so that one typo does not hide the other problems.
    """
    unknown = [item["loc"] for item in error.errors() if item["type"] == "extra_forbidden"]
    cleaned = {key: value for key, value in data.items() if (key,) not in unknown}
    if isinstance(cleaned.get("steps"), list):
        cleaned["steps"] = [
            {key: value for key, value in step.items() if ("steps", index, key) not in unknown}
            if isinstance(step, dict)
            else step
            for index, step in enumerate(cleaned["steps"])
        ]
    return cleaned


def _valid_steps(raw_steps: Any) -> tuple[list[tuple[int, StepSpec]], set[str]]:
    """Entries of a broken ``steps`` list valid on their own, by index; names of the others."""
    if not isinstance(raw_steps, list):
        return [], set()
    valid, broken = [], set()
    for index, item in enumerate(raw_steps):
        try:
            valid.append((index, StepSpec.model_validate(item)))
        except ValidationError:
            name = item.get("name", item.get("node")) if isinstance(item, dict) else None
            if isinstance(name, str):
                broken.add(name)
    return valid, broken


class _GraphBuilder:
    """Checks one pipeline's steps, recording problems instead of stopping at the first."""

    def __init__(self, steps: list[tuple[int, StepSpec]], unparsed: set[str], lines: Lines) -> None:
        self.specs = [spec for _, spec in steps]
        self.positions = {id(spec): index for index, spec in steps}
        self.unparsed = unparsed
        self.lines = lines
        self.problems: list[str] = []
        self.unique: dict[str, StepSpec] = {}
        self.classes: dict[str, type[Node]] = {}
        self.nodes: dict[str, Node] = {}
        self.sources: dict[str, dict[str, Port]] = {}

    def build(self, selected: list[str] | None) -> tuple[list[Step], list[Port]]:
        self._check_names()
        for spec in self.specs:
            self._check_node(spec)
        for index, spec in enumerate(self.specs):
            if spec.name in self.classes and self.unique[spec.name] is spec:
                self._wire(spec, index)
        outputs = self._select_outputs(selected)
        order = self._order()
        steps = [Step(name, self.nodes[name], self.sources[name]) for name in order]
        return steps, outputs

    def _at(self, spec: StepSpec) -> str:
        """``"line N: "`` for the step's line in the file, if known."""
        return line_prefix(self.lines, ("steps", self.positions[id(spec)]))

    def _label(self, spec: StepSpec) -> str:
        return f"{self._at(spec)}step '{spec.name}' ({spec.node})"

    def _check_names(self) -> None:
        first_index: dict[str, int] = {}
        for spec in self.specs:
            index = self.positions[id(spec)] + 1
            if spec.name == PIPELINE_INPUT:
                self.problems.append(
                    f"{self._at(spec)}step {index}: the name '{PIPELINE_INPUT}' is reserved for "
                    "the pipeline input"
                )
            elif spec.name in first_index:
                self.problems.append(
                    f"{self._at(spec)}duplicate step name '{spec.name}' (steps "
                    f"{first_index[spec.name]} and {index}); give each step a unique 'name'"
                )
            else:
                first_index[spec.name] = index
                self.unique[spec.name] = spec

    def _check_node(self, spec: StepSpec) -> None:
        try:
            cls = get_node_class(spec.node)
        except ConfigError as error:
            self.problems.append(f"{self._at(spec)}step '{spec.name}': {error}")
            return
        try:
            cls.Params.model_validate(spec.params)
        except ValidationError as error:
            self.problems.extend(self._param_problems(spec, cls, error))
            return
        try:
            node = cls(**spec.params)
        except ConfigError as error:
            self.problems.append(f"{self._label(spec)}: {error}")
            return
        if self.unique.get(spec.name) is spec:
            self.classes[spec.name] = cls
            self.nodes[spec.name] = node

    def _param_problems(self, spec: StepSpec, cls: type[Node], error: ValidationError) -> list[str]:
        known = list(cls.Params.model_fields)
        problems = []
        for item in error.errors():
            name = ".".join(str(part) for part in item["loc"])
            if item["type"] == "extra_forbidden":
                listed = ", ".join(known) or "none"
                problems.append(
                    f"{self._label(spec)}: unknown parameter '{name}'{_hint(name, known)} "
                    f"(parameters: {listed})"
                )
            else:
                problems.append(f"{self._label(spec)}: parameter '{name}': {item['msg']}")
        return problems

    def _kind(self, port: Port) -> Kind:
        if port == INPUT_PORT:
            return Kind.IMAGE
        return self.classes[port.step].outputs[port.output]

    def _resolve(self, ref: str, wanted: Kind | None, where: str) -> Port | None:
        """The port ``ref`` names, or None (with a problem recorded unless already reported)."""
        step, _, output = ref.partition(".")
        if step == PIPELINE_INPUT:
            if output in ("", INPUT_PORT.output):
                return INPUT_PORT
            self.problems.append(f"{where}: the pipeline input has only the output 'image'")
            return None
        if step not in self.unique:
            if step not in self.unparsed:
                choices = [PIPELINE_INPUT, *self.unique]
                self.problems.append(f"{where}: unknown step '{step}'{_hint(step, choices)}")
            return None
        if step not in self.classes:  # its node or parameters are wrong: already reported
            return None
        outputs = self.classes[step].outputs
        if output:
            if output not in outputs:
                self.problems.append(
                    f"{where}: step '{step}' has no output '{output}' "
                    f"(outputs: {', '.join(outputs)})"
                )
                return None
            return Port(step, output)
        # Outputs of exactly the kind wanted, else those the input accepts (see Kind.accepts).
        candidates = [key for key, kind in outputs.items() if wanted in (None, kind)]
        if wanted is not None and not candidates:
            candidates = [key for key, kind in outputs.items() if wanted.accepts(kind)]
        if len(outputs) == 1 or len(candidates) == 1:
            return Port(step, candidates[0] if len(candidates) == 1 else next(iter(outputs)))
        self.problems.append(
            f"{where}: step '{step}' has several outputs ({', '.join(outputs)}); "
            f"write '{step}.<output>'"
        )
        return None

    def _previous_image(self, index: int) -> Port:
        """The image output of the closest step before ``index`` producing one, else the input."""
        for previous in reversed(self.specs[:index]):
            cls = self.classes.get(previous.name)
            if cls is None or self.unique[previous.name] is not previous:
                continue
            images = [key for key, kind in cls.outputs.items() if kind is Kind.IMAGE]
            if images:
                return Port(previous.name, "image" if "image" in images else images[0])
        return INPUT_PORT

    def _wire(self, spec: StepSpec, index: int) -> None:
        cls = self.classes[spec.name]
        label = self._label(spec)
        sources: dict[str, Port] = {}
        for key, ref in spec.inputs.items():
            if key not in cls.inputs:
                listed = ", ".join(cls.inputs) or "none"
                self.problems.append(
                    f"{label}: node '{spec.node}' has no input '{key}'"
                    f"{_hint(key, list(cls.inputs))} (inputs: {listed})"
                )
                continue
            port = self._resolve(ref, cls.inputs[key], f"{label} input '{key}'")
            if port is None:
                continue
            if not cls.inputs[key].accepts(self._kind(port)):
                self.problems.append(
                    f"{label}: input '{key}' takes kind '{cls.inputs[key].value}' but "
                    f"'{port}' is of kind '{self._kind(port).value}'"
                )
                continue
            sources[key] = port
        primary = next((key for key, kind in cls.inputs.items() if kind is Kind.IMAGE), None)
        if primary is not None and primary not in spec.inputs:
            sources[primary] = self._previous_image(index)
        for key, kind in cls.inputs.items():
            if key not in sources and key not in spec.inputs:
                self.problems.append(
                    f"{label}: input '{key}' ({kind.value}) is not wired; "
                    f"add it under 'inputs', e.g. {{{key}: <step>}}"
                )
        self.sources[spec.name] = sources

    def _select_outputs(self, selected: list[str] | None) -> list[Port]:
        if selected is None:
            last = self.specs[-1].name if self.specs else None
            if last not in self.classes:
                return []
            return [Port(last, key) for key in self.classes[last].outputs]
        ports: list[Port] = []
        for index, ref in enumerate(selected):
            where = f"{line_prefix(self.lines, ('outputs', index))}outputs entry '{ref}'"
            step, _, output = ref.partition(".")
            if step == PIPELINE_INPUT:
                self.problems.append(f"{where}: the pipeline input is not a step output")
            elif output:
                port = self._resolve(ref, None, where)
                ports.extend([port] if port else [])
            elif step in self.classes:
                ports.extend(Port(step, key) for key in self.classes[step].outputs)
            else:
                self._resolve(ref, None, where)
        return list(dict.fromkeys(ports))

    def _order(self) -> list[str]:
        """Execution order: dependencies first, otherwise file order. Records cycles."""
        file_index = {name: index for index, name in enumerate(self.unique)}
        sorter = graphlib.TopologicalSorter(
            {
                name: {port.step for port in sources.values() if port.step in self.sources}
                for name, sources in self.sources.items()
            }
        )
        try:
            sorter.prepare()
        except graphlib.CycleError as error:
            cycle = " -> ".join(error.args[1])  # each step feeds the next
            self.problems.append(f"steps form a cycle: {cycle}")
            return []
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=file_index.__getitem__)
            order.extend(ready)
            sorter.done(*ready)
        return order


def build_graph(
    data: Any, source: str | Path, lines: Lines | None = None
) -> tuple[PipelineSpec, Graph]:
    """Validate parsed pipeline ``data`` (from ``source``) and return its spec and graph.

    ``lines`` (from :func:`~pixelwise.config.line_numbers`) puts the file's line
    numbers in the messages. Raises :class:`PipelineConfigError` listing every problem found.
    """
    lines = lines or {}
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        problem = f"expected a mapping with 'name' and 'steps', got {found}"
        raise PipelineConfigError(source, [problem])
    spec: PipelineSpec | None = None
    problems: list[str] = []
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as error:
        problems = pipeline_problems(error, lines)
        data = _without_unknown_fields(data, error)
        with contextlib.suppress(ValidationError):
            spec = PipelineSpec.model_validate(data)
    unparsed: set[str] = set()
    if spec is not None:
        steps = list(enumerate(spec.steps))
    else:
        steps, unparsed = _valid_steps(data.get("steps"))
    builder = _GraphBuilder(steps, unparsed, lines)
    ordered, outputs = builder.build(spec.outputs if spec else None)
    problems.extend(builder.problems)
    if problems or spec is None:
        raise PipelineConfigError(source, problems)
    return spec, Graph(tuple(ordered), tuple(outputs))
