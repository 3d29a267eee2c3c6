"""Training: the fit loop, callbacks, checkpoints, diagnostics and progress reporting."""
