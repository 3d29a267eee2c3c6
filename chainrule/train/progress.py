"""Progress reporting for ``fit``: a tqdm bar when tqdm is installed, plain lines otherwise.

The reporter is called once per EPOCH, never per batch, so it costs nothing measurable.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["EpochReporter"]


def _format(epoch: int, epochs: int, logs: dict[str, Any]) -> str:
    parts = [f"epoch {epoch:>{len(str(epochs))}}/{epochs}"]
    for key in ("cost", "accuracy", "val_cost", "val_accuracy"):
        if key in logs and logs[key] is not None:
            parts.append(f"{key} {logs[key]:.4f}")
    return "  ".join(parts)


class EpochReporter:
    """Prints at most ~``lines`` epoch lines (always the first and last) and drives a bar."""

    def __init__(self, epochs: int, lines: int = 20, stream: TextIO | None = None) -> None:
        self.epochs = epochs
        self.every = max(1, epochs // lines)
        self.stream = stream or sys.stdout
        self.bar: Any = None
        try:
            from tqdm.auto import tqdm

            if self.stream.isatty():
                self.bar = tqdm(total=epochs, unit="epoch", leave=False, file=sys.stderr)
        except ImportError:  # tqdm is an optional extra
            self.bar = None

    def update(self, epoch: int, logs: dict[str, Any]) -> None:
        line = _format(epoch, self.epochs, logs)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"cost {logs['cost']:.4f}", refresh=False)
        if epoch == 1 or epoch == self.epochs or epoch % self.every == 0:
            if self.bar is not None:
                self.bar.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
