"""Restoration networks whose state dicts match the official releases key for key.

Each module registers its architecture with :func:`~pixelwise.models.register_model`, so a
detected config (:mod:`pixelwise.models.detect`) rebuilds the network, and the official
weight files load with ``load_state_dict`` unchanged:

========================  ===================================  ==============================
architecture              official code (key layout)           licence of the official code
========================  ===================================  ==============================
``drunet``                KAIR (cszn)                          MIT
``ffdnet`` (+ FDnCNN)     KAIR (cszn)                          MIT
``nafnet``                NAFNet (megvii-research)             MIT
``rrdbnet``               Real-ESRGAN / BasicSR (xinntao)      BSD-3-Clause
``srvgg_compact``         Real-ESRGAN (xinntao)                BSD-3-Clause
``swinir``                SwinIR (JingyunLiang)                Apache-2.0
``restormer``             Restormer (swz30)                    **non-commercial** only
========================  ===================================  ==============================

SCUNet and DnCNN files of KAIR load into :class:`~pixelwise.models.SCUNet` and
:class:`~pixelwise.models.DnCNN` through a key mapping (see :mod:`pixelwise.models.detect`).
The code here is pixelwise's own (BSD-3-Clause); the weights keep their authors' licences.
"""

from pixelwise.models.restorers.compact import SRVGGNetCompact, SRVGGNetCompactConfig
from pixelwise.models.restorers.drunet import DRUNet, DRUNetConfig
from pixelwise.models.restorers.ffdnet import FFDNet, FFDNetConfig
from pixelwise.models.restorers.nafnet import NAFNet, NAFNetConfig
from pixelwise.models.restorers.restormer import Restormer, RestormerConfig
from pixelwise.models.restorers.rrdbnet import RRDBNet, RRDBNetConfig
from pixelwise.models.restorers.swinir import SwinIR, SwinIRConfig

__all__ = [
    "DRUNet",
    "DRUNetConfig",
    "FFDNet",
    "FFDNetConfig",
    "NAFNet",
    "NAFNetConfig",
    "RRDBNet",
    "RRDBNetConfig",
    "Restormer",
    "RestormerConfig",
    "SRVGGNetCompact",
    "SRVGGNetCompactConfig",
    "SwinIR",
    "SwinIRConfig",
]
