"""Applications: each wires io, data, models and the engine for one domain."""
