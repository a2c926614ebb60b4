"""Training data: synthetic sections, noise models and random patch streams."""
