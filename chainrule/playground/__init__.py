"""``chainrule playground``: a TensorFlow-Playground-like page trained by chainrule's own engine.

The server (:mod:`chainrule.playground.server`, Starlette + uvicorn, the ``playground`` extra)
holds one :class:`~chainrule.playground.session.Session` per browser tab and trains it in the
server process; the page only draws what it is sent. The parameters, data, formulas and heatmaps
need NumPy alone.
"""

from __future__ import annotations

from chainrule.playground.params import Config, parse_config
from chainrule.playground.session import Session

__all__ = ["Config", "Session", "parse_config"]
