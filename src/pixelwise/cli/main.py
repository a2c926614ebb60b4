"""Entry point of the ``pixelwise`` command.

User errors (:class:`pixelwise.errors.PixelwiseError`) are printed as one red line on stderr
with exit status 2; they never show a traceback.
"""

from __future__ import annotations

import typer
from rich.console import Console

from pixelwise.errors import PixelwiseError

app = typer.Typer(
    name="pixelwise",
    help="Pixel-level deep learning for scientific and photographic images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``)."""
    try:
        app(args=argv, prog_name="pixelwise")
    except PixelwiseError as error:
        Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {error}", soft_wrap=True)
        raise SystemExit(2) from None


from pixelwise.cli.nodes import app as nodes_app  # noqa: E402  (sub-commands register last)
from pixelwise.cli.run import run_command  # noqa: E402

app.add_typer(nodes_app, name="nodes")
app.command("run")(run_command)
from pixelwise.cli.seismic import app as seismic_app  # noqa: E402

app.add_typer(seismic_app, name="seismic")
