"""Generate notebooks/to-a-gpt.ipynb (no outputs) from the cells below.

Edit the cells here, then run ``python scripts/make_gpt_notebook.py``; the test suite executes the
notebook (tests/test_gpt_notebook.py), so it never rots. Every model is tiny: the whole notebook
runs in seconds on two cores. docs/sequences.md derives every formula it uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the first notebook's generator
from make_notebook import notebook_from, write_notebook  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "notebooks" / "to-a-gpt.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# From the notebook to a GPT, with chainrule

The first notebook (`from-scratch.ipynb`) trained the seed notebook's 2-3-3-1 sigmoid network.
This one keeps its notation -- examples on the **last** axis, `W (n[l], n[l-1])`,
`b (n[l], 1)`, `dC_dW`, `dC_dA_prev` -- and grows the network into a language model, one idea at
a time:

1. token ids and embeddings, 2. a bigram model, 3. a character MLP, 4. a GRU language model,
5. a GPT trained with `fit_lm`, 6. inside causal attention, 7. every GPT gradient checked,
8. sampling with `generate`.

In the engine a sequence of vectors is `(C, T, m)` (C features at each of T positions, m
examples) and token ids are `(T, m)`; at the user API ids are `(m, T)`, examples first.
docs/sequences.md derives every backward pass used here. Every model is tiny, so the notebook
runs in seconds.""",
    ),
    (
        "code",
        """import tempfile
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.data.windows import context_windows
from chainrule.model.generate import generate
from chainrule.nn.attention import causal_mask
from chainrule.train.lm import fit_lm

np.set_printoptions(precision=4, suppress=True)
started = time.perf_counter()""",
    ),
    (
        "md",
        """## 0. The notebook's network, recalled

`n = [2, 3, 3, 1]`, sigmoids, binary cross-entropy, `A0 = X.T (n[0], m)`. Everything below is
made of the same pieces: layers with `forward(A_prev)` and `backward(dC_dA)`, a cost whose
gradient carries the `1/m`, and an optimizer step.""",
    ),
    (
        "code",
        """toy = cr.datasets.load("toy")
net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
net.fit(toy.X_train, toy.y_train, epochs=500, lr=0.5, batch_size=10, optimizer="sgd",
        standardize=True, verbose=False)
print("A0 = X.T", toy.X_train.T.shape, " W[1]", net.layers[0].W.shape, " b[1]", net.layers[0].b.shape)
print("accuracy", (net.predict(toy.X_train) == toy.y_train).mean())""",
    ),
    (
        "md",
        """## 1. Token ids and embeddings

A token id is a category, so the notebook's tool is the one-hot column. An `Embedding` is a Dense
layer without bias applied to one-hot inputs: `W @ onehot(ids) = W[:, ids]`, with
`W (n_embd, V)`. It indexes instead of multiplying. Its backward is the Dense layer's
`dC_dW = dC_dA @ onehot.T`: every position holding token `j` adds its gradient to column `j`,
so a token used three times gets the **sum** of three gradients (a scatter-add).""",
    ),
    (
        "code",
        """text = (
    "mary had a little lamb, its fleece was white as snow.\\n"
    "and everywhere that mary went, the lamb was sure to go.\\n"
    "twinkle, twinkle, little star, how i wonder what you are.\\n"
    "up above the world so high, like a diamond in the sky.\\n"
) * 4
vocab = cr.data.Vocabulary.from_text(text)
ids = vocab.encode(text)
V = vocab.size
print(vocab, " ids", ids[:12], "...", len(ids), "tokens")

emb = cr.Embedding(V, 4, seed=0)                    # W : (n_embd, V) = (4, V)
tok = np.array([[1, 3], [1, 1]])                    # (T, m) = (2, 2): token 1 three times
A = emb.forward(tok)                                # (n_embd, T, m)
onehot = np.eye(V)[:, tok]                          # (V, T, m)
print("A", A.shape, " equals W @ onehot:", np.allclose(A, np.einsum("ev,vtm->etm", emb.W, onehot)))

G = np.arange(1.0, 17.0).reshape(4, 2, 2)           # a dC_dA of A's shape
emb.backward(G)
print("dC_dW[0, 1] =", emb.dC_dW[0, 1], "= 1 + 3 + 4 (three positions add)")
wrong = np.zeros_like(emb.W)
wrong[:, tok.reshape(-1)] += G.reshape(4, -1)       # buffered: the last use overwrites
print("buffered += gives", wrong[0, 1])""",
    ),
    (
        "md",
        """## 2. A bigram model: Dense at every position

`Embedding(V, n_embd) -> Dense(n_embd, V) -> Softmax` predicts the next token from the current
one. Fed `T = 8` tokens per example, the Embedding gives `(n_embd, T, m)` and the Dense layer
treats that as `(n_embd, T*m)`: the same `W` and `b` at every position. Targets are the inputs
shifted by one, `y (m, T)`, one-hot `(V, T, m)` inside, and the cost is averaged over all `T*m`
positions. No model that sees one token can beat the count-based bigram table.""",
    ),
    (
        "code",
        """T = 8
n = (len(ids) - 1) // T
X, y = ids[: n * T].reshape(n, T), ids[1 : n * T + 1].reshape(n, T)       # (m, T) each
bigram = cr.Sequential([cr.Embedding(V, 16, seed=0), cr.Dense(16, V, seed=0), cr.Softmax()],
                       input_shape=(T,))
print(bigram.summary())
hist = bigram.fit(X, y, epochs=150, lr=0.05, batch_size=16, optimizer="adam", verbose=False, seed=0)

counts = np.zeros((V, V))
np.add.at(counts, (X.reshape(-1), y.reshape(-1)), 1)
table = counts / counts.sum(axis=1, keepdims=True)
best = -np.mean(np.log(table[X, y]))
print(f"cost {hist['cost'][0]:.3f} -> {bigram.cost(X, y):.3f};  count table {best:.3f};  "
      f"log V = {np.log(V):.3f}")""",
    ),
    (
        "md",
        """## 3. A character MLP (Bengio et al. 2003, makemore)

`cr.models.char_mlp` reads the previous `context` characters: ids `(context, m)` -> Embedding
`(n_embd, context, m)` -> Flatten `(context*n_embd, m)` -> Dense + tanh -> Dense + softmax
`(V, m)`. One prediction per example, so it is an ordinary classifier trained with `fit`.
`context_windows` builds its examples: `"emma"` gives `... -> e`, `..e -> m`, `.em -> m`,
`emm -> a`, `mma -> .` (the boundary `.` is id 0).""",
    ),
    (
        "code",
        """words = ("emma olivia ava sophia isabella mia amelia harper evelyn abigail emily ella "
         "elizabeth camila luna sofia avery mila aria scarlett penelope layla chloe victoria "
         "madison eleanor grace nora riley zoey hannah hazel lily ellie violet lillian zoe "
         "stella aurora natalie emilia").split()
letters = cr.data.Vocabulary(".abcdefghijklmnopqrstuvwxyz")
Xw, yw = context_windows(words, letters.encode, context=3)
print("X", Xw.shape, " y", yw.shape, " first windows", Xw[:3].tolist(), "->", yw[:3].tolist())

mlp = cr.models.char_mlp(letters.size, context=3, n_embd=8, n_hidden=64, seed=0)
hist = mlp.fit(Xw, yw, epochs=60, lr=0.01, batch_size=32, optimizer="adam", verbose=False, seed=0)
print(f"cost {hist['cost'][0]:.3f} -> {mlp.cost(Xw, yw):.3f}")
samples = [mlp.generate(np.zeros(0, dtype=np.int64), 12, seed=s, stop_token=0) for s in range(6)]
print("samples:", ", ".join(letters.decode(s[s != 0]) for s in samples))""",
    ),
    (
        "md",
        """## 4. A GRU language model: back-propagation through time

`cr.models.gru_lm`: Embedding -> GRU -> Dense -> Softmax, an output at every position
`(V, T, m)`. The GRU carries a hidden state `h_t (H, m)` from step to step with the same weights
(PyTorch's gate order r, z, n); its backward walks `t = T..1` carrying the gradient into
`h_{t-1}` and sums every weight's gradient over the steps. A token stream has no examples to
make epochs of, so `fit_lm` trains by **steps**, each on random windows of `T + 1` tokens
(input: the first T, target: the same shifted by one).""",
    ),
    (
        "code",
        """gru = cr.models.gru_lm(V, n_embd=12, n_hidden=24, block_size=T, seed=0)
gru_layer = gru.layers[1]
print("GRU W_ih", gru_layer.W_ih.shape, " W_hh", gru_layer.W_hh.shape, " b_hh", gru_layer.b_hh.shape)
hist = gru.fit_lm(ids, steps=80, batch_size=16, lr=1e-2, eval_every=40, eval_batches=2)
print(repr(vocab.decode(gru.generate(vocab.encode("mary "), 30, seed=0, top_k=3))))""",
    ),
    (
        "md",
        """## 5. A tiny GPT, trained with fit_lm

The notebook writes its text to a file and loads it like any corpus:
`cr.data.load("text", path=...)` builds the vocabulary of the file and splits it, first 90%
train, last 10% validation. `cr.models.gpt`: token Embedding + PositionalEmbedding
`(C, T, m)` -> `n_layer` TransformerBlocks (pre-LayerNorm: `x + attn(ln_1(x))`,
`x + mlp(ln_2(x))`, the residual stream) -> LayerNorm -> Dense -> Softmax `(V, T, m)`.
A fresh GPT predicts nearly uniform probabilities, so its first loss is close to `log V`.""",
    ),
    (
        "code",
        """path = Path(tempfile.mkdtemp()) / "rhymes.txt"
path.write_text(text, encoding="utf-8")
data = cr.data.load("text", path=str(path))
print(data)

gpt = cr.models.gpt(data.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16, seed=0)
print(gpt.summary().splitlines()[-1], f"; log V = {np.log(data.vocab_size):.3f}")
history = fit_lm(gpt, data.train_ids, data.val_ids, steps=60, batch_size=16, lr=1e-2,
                 eval_every=20, eval_batches=2, seed=0)
print("history keys:", sorted(history))""",
    ),
    (
        "md",
        """## 6. Inside causal self-attention

Each head scores every pair of positions, `S = q.T k / sqrt(hs)` of shape `(n_head, T, T, m)`,
and `P = softmax` over the positions `s <= t` only: the causal mask. The row of position t
sums to 1 and is exactly 0 to the right of t, so a later token can never change an earlier
prediction -- which is why one forward pass trains all T next-token predictions at once.""",
    ),
    (
        "code",
        """attention = gpt.layers[3].layers[0].block.layers[1]       # block 0, residual 0, its attention
Xs = data.train_ids[:32].reshape(2, 16)                      # (m, T) = (2, 16)
gpt.eval()
P_before = gpt.forward(Xs.T)                                 # (V, T, m), the engine's layout
q = attention.cache["q"]
print("q", q.shape, "(n_head, hs, T, m);  P", attention.cache["P"].shape, "(n_head, T, T, m)")
P = attention.cache["P"]
print("rows sum to 1:", np.allclose(P.sum(axis=2), 1),
      "; zero above the diagonal:", bool(np.all(P[:, ~causal_mask(16)[:, :, 0]] == 0)))
changed = Xs.copy()
changed[:, -1] = (changed[:, -1] + 1) % data.vocab_size     # change the LAST token only
P_after = gpt.forward(changed.T)
print("earlier predictions unchanged:", np.allclose(P_before[:, :-1], P_after[:, :-1]))""",
    ),
    (
        "md",
        """## 7. Every gradient of a GPT, checked

`cr.gradcheck` compares every backprop gradient -- embeddings, LayerNorm's three-term formula,
attention's softmax backward, GELU, the residual sums -- with central finite differences, in
float64. A relative error below 1e-6 means the backward pass is right.

`eps=1e-5` rather than the default `1e-6`: a fresh GPT's branches start with weights of size
0.02, so some gradients (the LayerNorm scales inside the blocks) are tiny, and the round-off in
`(C(p + eps) - C(p - eps)) / (2 eps)`, about `1e-16 * C / eps`, becomes visible at `eps=1e-6`.
The truncation error, `O(eps^2)`, is still negligible at `1e-5`.""",
    ),
    (
        "code",
        """tiny = cr.models.gpt(data.vocab_size, block_size=4, n_layer=1, n_head=2, n_embd=8, seed=0)
Xg = data.train_ids[:12].reshape(3, 4)                       # (m, T) ids
yg = data.train_ids[1:13].reshape(3, 4)                      # the next token at each position
report = cr.gradcheck(tiny, Xg, yg, eps=1e-5)
print(report)
assert report.passed""",
    ),
    (
        "md",
        """## 8. Sampling with generate

`generate` feeds the last `block_size` tokens, takes the logits of the next token, divides them
by the `temperature`, keeps the `top_k` largest, samples from their softmax, appends, and
repeats. A low temperature picks likely tokens; a high one takes risks.""",
    ),
    (
        "code",
        """prompt = data.vocab.encode("mary ")
for temperature, top_k in ((0.5, None), (1.0, 5), (1.5, None)):
    out = generate(gpt, prompt, 40, temperature=temperature, top_k=top_k, seed=0)
    print(f"T={temperature}, top_k={top_k}: {data.vocab.decode(out)!r}")
print(f"whole notebook: {time.perf_counter() - started:.1f} s")""",
    ),
    (
        "md",
        """Next: `examples/names_gpt.py` and `examples/shakespeare_gpt.py` train real-sized GPTs on
the offline `names` and `shakespeare` datasets, and docs/sequences.md derives every backward
pass used here, naming the function that implements each formula.""",
    ),
]


def build() -> nbformat.NotebookNode:
    return notebook_from(CELLS)


def main() -> None:
    write_notebook(build(), OUT)


if __name__ == "__main__":
    main()
