"""Tools for learning: gradient checks, explained formulas, loop twins and the vectorization lab."""
