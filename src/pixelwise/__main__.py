"""``python -m pixelwise`` (and ``torchrun -m pixelwise``) runs the command line."""

from pixelwise.cli import main

main()
