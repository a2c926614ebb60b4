"""Test-wide settings."""

from __future__ import annotations

import torch

# The test networks are tiny: intra-op threads gain nothing, and on a CPU shared with other
# processes they spin against each other and run 5-10x slower. Results do not depend on it.
torch.set_num_threads(1)
