"""Training methods that turn a model into a denoiser or restorer (Noise2Void, ...)."""
