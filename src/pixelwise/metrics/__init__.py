"""Image-quality and regression metrics computed in torch (differentiable where meaningful)."""

from pixelwise.metrics.regression import masked_rmse, mse, pearson_r, psnr, rmse, snr_db

__all__ = ["masked_rmse", "mse", "pearson_r", "psnr", "rmse", "snr_db"]
