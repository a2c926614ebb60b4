"""OCT retinal layer segmentation: 3-class U-Net, sub-pixel ILM/BM rows, HDF5 in and out."""

from pixelwise.apps.oct.config import OctConfig, OctDataConfig, run_config
from pixelwise.apps.oct.layout import OctData, labels_from_boundaries, read_oct, write_oct
from pixelwise.apps.oct.phantom import PhantomConfig, simulate
from pixelwise.apps.oct.predict import load_segmenter, predict_file, segment
from pixelwise.apps.oct.train import train

__all__ = [
    "OctConfig",
    "OctData",
    "OctDataConfig",
    "PhantomConfig",
    "labels_from_boundaries",
    "load_segmenter",
    "predict_file",
    "read_oct",
    "run_config",
    "segment",
    "simulate",
    "train",
    "write_oct",
]
