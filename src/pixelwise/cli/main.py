"""Entry point of the ``pixelwise`` command.

User errors (:class:`pixelwise.errors.PixelwiseError`, and any ``OSError`` that escaped a
command) are printed as one red line ``error: FILE: problem`` on stderr; they never show a
traceback. Exit status: 0 success, 1 some inputs failed (``run --keep-going``), 2 a user
error, 128 + N interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM). Warnings of the
libraries are collected into one ``note:`` line, printed above the error line.
"""

from __future__ import annotations

import os

import typer

from pixelwise.cli.messages import library_notes, print_line, print_notes
from pixelwise.errors import PixelwiseError
from pixelwise.io.atomic import describe_os_error
from pixelwise.signals import Interrupted

# OpenCV prints its warnings from C++ straight to stderr, above our one-line error, where they
# cannot be collected into the note; the reader's error says what went wrong. Users may still
# ask for them with OPENCV_LOG_LEVEL=WARNING.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

app = typer.Typer(
    name="pixelwise",
    help="Pixel-level deep learning for scientific and photographic images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _interruption(stop: BaseException) -> Interrupted | None:
    """The SIGINT/SIGTERM behind ``stop`` that no command reported (typer makes it exit 130)."""
    cause: BaseException | None = stop
    while cause is not None and not isinstance(cause, Interrupted):
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return cause


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``)."""
    notes: list[str] = []
    try:
        with library_notes(notes):
            app(args=argv, prog_name="pixelwise")
    except PixelwiseError as error:
        print_notes(notes)
        print_line("error", str(error))
        raise SystemExit(2) from None
    except OSError as error:  # a safety net: writers report these as OutputError already
        print_notes(notes)
        where = f"{error.filename}: " if error.filename is not None else ""
        print_line("error", f"{where}{describe_os_error(error)}")
        raise SystemExit(2) from None
    except BaseException as stop:  # typer's exit at the end of every command, Ctrl-C
        print_notes(notes)
        interrupted = _interruption(stop)
        if interrupted is None:
            raise
        print_line("error", str(interrupted))
        raise SystemExit(128 + interrupted.signum) from None
    print_notes(notes)


from pixelwise.cli.nodes import app as nodes_app  # noqa: E402  (sub-commands register last)
from pixelwise.cli.run import run_command  # noqa: E402

app.add_typer(nodes_app, name="nodes")
app.command("run")(run_command)
from pixelwise.cli.seismic import app as seismic_app  # noqa: E402

app.add_typer(seismic_app, name="seismic")
from pixelwise.cli.oct import app as oct_app  # noqa: E402

app.add_typer(oct_app, name="oct")
from pixelwise.cli.cryoem import app as cryoem_app  # noqa: E402

app.add_typer(cryoem_app, name="cryoem")
from pixelwise.cli.bokeh import app as bokeh_app  # noqa: E402

app.add_typer(bokeh_app, name="bokeh")
