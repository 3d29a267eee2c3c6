"""GPT-2's transformer block: attention and an MLP, each inside a residual connection.

    x = x + attention(layernorm_1(x))          the tokens talk to each other
    x = x + mlp(layernorm_2(x))                each token thinks on its own

The block reads and writes the *residual stream* x (n_embd, T, m): every block adds its
contribution to it, and its gradient flows back through the two identity paths untouched by
any layer (chainrule.nn.residual explains why gradients add there). Normalizing BEFORE each
branch ("pre-LN", GPT-2's order) keeps the stream itself unnormalized, so the identity path
stays an identity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.attention import CausalSelfAttention
from chainrule.nn.dense import Dense
from chainrule.nn.dropout import Dropout
from chainrule.nn.gelu import GELU
from chainrule.nn.init import as_rng
from chainrule.nn.layer import Layer, register_layer
from chainrule.nn.layernorm import LayerNorm
from chainrule.nn.residual import Residual
from chainrule.nn.sequential import Sequential
from chainrule.validation import check_positive_int

__all__ = ["TransformerBlock"]


@register_layer
class TransformerBlock(Sequential):
    """Two residual branches on (n_embd, T, m), with these children (dotted names):

    * ``0``: Residual(Sequential([LayerNorm, CausalSelfAttention, Dropout]))   (``0.block.1``)
    * ``1``: Residual(Sequential([LayerNorm, Dense(C, 4C), GELU(tanh), Dense(4C, C), Dropout]))

    As nanoGPT's Block with bias: the MLP widens 4x with the tanh GELU of GPT-2; ``dropout``
    applies to the attention weights and to each branch's output. Its forward and backward are
    a Sequential's: the two Residuals in order, each adding its branch to the stream.
    Weights are initialised N(0, 0.02), the branches' output projections N(0, 0.02 /
    sqrt(2 n_layer)) as in GPT-2 (pass ``n_layer``), biases 0.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        n_layer: int = 1,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.n_embd = check_positive_int("n_embd", n_embd)
        self.n_head = check_positive_int("n_head", n_head)
        self.n_layer = check_positive_int("n_layer", n_layer)
        self.dropout = float(dropout)
        rng = as_rng(seed)
        C = self.n_embd
        attention = CausalSelfAttention(C, self.n_head, dropout=self.dropout, seed=rng)
        attention.W_o = attention.W_o / np.sqrt(2 * self.n_layer)  # GPT-2's residual scaling
        up, down = Dense(C, 4 * C), Dense(4 * C, C)
        for dense in (up, down):
            dense.b[...] = 0.0
        up.W = 0.02 * rng.standard_normal(up.W.shape)
        down.W = 0.02 / np.sqrt(2 * self.n_layer) * rng.standard_normal(down.W.shape)
        super().__init__(
            [
                Residual(Sequential([LayerNorm(C), attention, Dropout(self.dropout, seed=rng)])),
                Residual(
                    Sequential(
                        [LayerNorm(C), up, GELU("tanh"), down, Dropout(self.dropout, seed=rng)]
                    )
                ),
            ]
        )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 2 or input_shape[0] != self.n_embd:
            raise ValueError(
                f"TransformerBlock expects ({self.n_embd}, T) per example, got {input_shape}"
            )
        return super().output_shape(input_shape)

    def config(self) -> dict[str, Any]:
        return {
            "n_embd": self.n_embd,
            "n_head": self.n_head,
            "dropout": self.dropout,
            "n_layer": self.n_layer,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], children: list[Layer] | None = None) -> Layer:
        """The block builds its own children; the stored ones only confirm the structure."""
        block = cls(**config)
        if children is not None and len(children) != len(block.layers):
            raise ValueError(f"a TransformerBlock has 2 children, got {len(children)}")
        return block

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"TransformerBlock({args})"
