"""The data section every patch-trained app shares: patch size, counts, batches, workers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pixelwise.engine.config import MAX_COUNT


class PatchConfig(BaseModel):
    """How many patches of which size each epoch draws, and how they are batched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patch_size: int = Field(64, ge=4, le=4096, description="patch edge in pixels")
    patches_per_epoch: int = Field(1024, ge=1, le=MAX_COUNT)
    validation_patches: int = Field(128, ge=0, le=MAX_COUNT, description="0: no validation pass")
    batch_size: int = Field(16, ge=1, le=65536)
    num_workers: int = Field(0, ge=0, le=256, description="DataLoader worker processes")
