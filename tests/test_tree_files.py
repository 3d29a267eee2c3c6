"""Nested networks in files: save/load round trips, refused headers, resume, old import paths.

* A nested network (Residual inside Sequential inside Sequential, Dropout and BatchNorm deep in
  the tree) saves and loads with bit-identical parameters and buffers, predictions, tree and repr;
  its arrays live under their tree paths (``layers/2/0/0/block/0/W``).
* A header whose tree is nested wrongly (children missing, not a list, the wrong count for a
  Residual, a nested W of the wrong shape, a nesting bomb, a nested type naming code) is a
  ValueError and nothing in it is executed.
* A nested network resumed from a checkpoint is bit-identical to an uninterrupted run, with the
  random generators of nested Dropout layers restored by tree path.
* Every old import path in ``chainrule._compat.MOVED`` gives the same module object as its new
  path (checked in a child process, so the imports cannot change this test session).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule._compat import MOVED
from chainrule.model.files import HEADER_KEY, read_checkpoint
from chainrule.nn import BatchNorm, Dropout, Residual
from chainrule.nn import Sequential as Chain
from chainrule.train import checkpoint as ck

ROOT = Path(__file__).resolve().parents[1]
SPIRALS = cr.datasets.load("spirals")


# --- networks ----------------------------------------------------------------------------------
def deep_net(dtype: type = np.float32) -> cr.Sequential:
    """A Residual inside a Sequential inside a Sequential, with Dropout and BatchNorm inside."""
    return cr.Sequential(
        [
            cr.Dense(2, 8, seed=1),
            cr.Tanh(),
            Chain(
                [
                    Chain(
                        [
                            Residual(
                                Chain(
                                    [
                                        cr.Dense(8, 8, seed=2),
                                        cr.ReLU(),
                                        Dropout(0.25, seed=3),
                                        BatchNorm(8),
                                    ]
                                )
                            )
                        ]
                    ),
                    cr.Dense(8, 8, seed=4),
                ]
            ),
            Residual(Residual(cr.Tanh())),
            cr.Dense(8, 3, seed=5),
            cr.Softmax(),
        ],
        dtype=dtype,
    )


def mnist1d_resmlp(k: int = 10) -> cr.Sequential:
    rng = np.random.default_rng(0)
    return cr.Sequential(
        [
            cr.Dense(40, k, init="he", seed=rng),
            cr.ReLU(),
            Residual(Chain([cr.Dense(k, k, init="he", seed=rng), cr.ReLU()])),
            Residual(Chain([cr.Dense(k, k, init="he", seed=rng), cr.ReLU()])),
            cr.Dense(k, 10, seed=rng),
            cr.Softmax(),
        ]
    )


def with_nested_network() -> cr.Sequential:
    """A cr.Sequential (a network with its own cost) nested as a layer of another."""
    inner = cr.Sequential([cr.Dense(8, 8, seed=7), cr.Tanh()], loss="mse")
    return cr.Sequential([cr.Dense(2, 8, seed=6), Residual(inner), cr.Dense(8, 3), cr.Softmax()])


def trained(net: cr.Sequential, epochs: int = 2) -> cr.Sequential:
    X, y = (SPIRALS.X_train, SPIRALS.y_train)
    if net.n_features != X.shape[1]:
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((64, net.n_features)), rng.integers(0, net.n_outputs, 64)
    net.fit(X, y, epochs=epochs, lr=0.01, optimizer="adam", standardize=True, verbose=False)
    return net


def inputs_for(net: cr.Sequential) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((25, net.n_features))


def assert_same_arrays(a: cr.Sequential, b: cr.Sequential) -> None:
    """Every parameter and buffer of the two trees: same dotted key, dtype and bits."""
    sa, sb = list(a.named_arrays()), list(b.named_arrays())
    assert [k for k, _, _ in sa] == [k for k, _, _ in sb] and len(sa) > 0
    for (key, la, name), (_, lb, _) in zip(sa, sb):
        x, y = getattr(la, name), getattr(lb, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), key


# --- round trips -------------------------------------------------------------------------------
ROUND_TRIPS: dict[str, Callable[[], cr.Sequential]] = {
    "residual in seq in seq, float32": lambda: trained(deep_net()),
    "residual in seq in seq, float64": lambda: trained(deep_net(np.float64)),
    "mnist1d residual MLP": lambda: trained(mnist1d_resmlp()),
    "untrained": deep_net,
}


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_nested_round_trip_is_exact(case: str, tmp_path: Path) -> None:
    net = ROUND_TRIPS[case]()
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = cr.load(path)
    assert_same_arrays(net, loaded)
    assert [(p, type(la)) for p, la in net.named_layers()] == [
        (p, type(la)) for p, la in loaded.named_layers()
    ]
    assert repr(loaded) == repr(net) and loaded.summary() == net.summary()
    assert loaded.dtype == net.dtype and loaded.loss.name == net.loss.name
    assert loaded.is_fitted == net.is_fitted and not loaded.layers[0].training  # eval mode
    X = inputs_for(net)
    if net.is_fitted:
        assert np.array_equal(loaded.predict_proba(X), net.predict_proba(X))
        assert np.array_equal(loaded.predict(X), net.predict(X))
    assert np.array_equal(loaded.decision_output(X), net.decision_output(X))
    loaded.save(tmp_path / "again.npz")  # saving the loaded network gives the same file content
    h1, a1 = archive(path)
    h2, a2 = archive(tmp_path / "again.npz")
    assert h1 == h2 and a1.keys() == a2.keys()
    assert all(np.array_equal(a1[k], a2[k]) for k in a1)


def test_nested_arrays_are_stored_under_tree_paths(tmp_path: Path) -> None:
    path = tmp_path / "net.npz"
    deep_net().save(path)
    header, arrays = archive(path)
    assert sorted(arrays) == sorted(
        [
            "layers/0/W", "layers/0/b",
            "layers/2/0/0/block/0/W", "layers/2/0/0/block/0/b",
            "layers/2/0/0/block/3/gamma", "layers/2/0/0/block/3/beta",
            "layers/2/0/0/block/3/running_mean", "layers/2/0/0/block/3/running_var",
            "layers/2/1/W", "layers/2/1/b",
            "layers/4/W", "layers/4/b",
        ]
    )  # fmt: skip
    res = header["layers"][3]
    assert res == {
        "type": "Residual",
        "config": {},
        "children": [
            {"type": "Residual", "config": {}, "children": [{"type": "Tanh", "config": {}}]}
        ],
    }


def test_nested_network_layer_round_trips_its_arrays(tmp_path: Path) -> None:
    """A cr.Sequential nested as a layer: the arrays and predictions survive a round trip."""
    net = trained(with_nested_network())
    net.save(tmp_path / "n.npz")
    loaded = cr.load(tmp_path / "n.npz")
    assert_same_arrays(net, loaded)
    X = inputs_for(net)
    assert np.array_equal(loaded.predict_proba(X), net.predict_proba(X))


def test_nested_network_layer_keeps_its_type_and_repr(tmp_path: Path) -> None:
    net = with_nested_network()
    net.save(tmp_path / "n.npz")
    loaded = cr.load(tmp_path / "n.npz")
    assert type(loaded.layers[1].block) is cr.Sequential
    assert repr(loaded) == repr(net)


# --- headers that nest children wrongly --------------------------------------------------------
def archive(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop(HEADER_KEY))), arrays


def write(path: Path, header: dict[str, Any] | str, arrays: dict[str, np.ndarray]) -> Path:
    raw = header if isinstance(header, str) else json.dumps(header)
    np.savez(path, **{HEADER_KEY: np.array(raw)}, **arrays)
    return path


def nested(h: dict[str, Any], *path: Any) -> Any:
    """The spec at ``path`` in the header's layer list: nested(h, 2, 0, 0) is layer "2.0.0"."""
    spec = h["layers"][path[0]]
    for i in path[1:]:
        spec = spec["children"][i]
    return spec


BLOCK_W = "layers/2/0/0/block/0/W"  # the W of the Dense inside the residual block
RELU = {"type": "ReLU", "config": {}}

#: id -> (edit of the header (and arrays), regex of the ValueError)
NESTING_EDITS: dict[str, tuple[Callable[[dict[str, Any], dict[str, np.ndarray]], Any], str]] = {
    "sequential without children": (
        lambda h, a: nested(h, 2, 0).pop("children"),
        r"layer 2\.0 \(Sequential\) has a bad config: a Sequential needs its child layers",
    ),
    "sequential with no children": (
        lambda h, a: nested(h, 2).update(children=[]),
        r"layer 2 \(Sequential\) has a bad config: a Sequential needs its child layers",
    ),
    "children not a list": (
        lambda h, a: nested(h, 2).update(children={"0": RELU}),
        r"layer 2 children must be a list",
    ),
    "children a string": (
        lambda h, a: nested(h, 2, 0, 0).update(children="Sequential"),
        r"layer 2\.0\.0 children must be a list",
    ),
    "child not an object": (
        lambda h, a: nested(h, 2, 0).update(children=[42]),
        r"layer 2\.0\.0 is not of the form",
    ),
    "residual without children": (
        lambda h, a: nested(h, 2, 0, 0).pop("children"),
        r"layer 2\.0\.0 \(Residual\) has a bad config: a Residual needs exactly one child",
    ),
    "residual with no children": (
        lambda h, a: nested(h, 2, 0, 0).update(children=[]),
        r"layer 2\.0\.0 \(Residual\) has a bad config: a Residual needs exactly one child",
    ),
    "residual with two children": (
        lambda h, a: nested(h, 3)["children"].append(RELU),
        r"layer 3 \(Residual\) has a bad config: a Residual needs exactly one child",
    ),
    "residual config with an argument": (
        lambda h, a: nested(h, 2, 0, 0).update(config={"command": "touch PWNED"}),
        r"layer 2\.0\.0 \(Residual\) has a bad config",
    ),
    "leaf with children": (
        lambda h, a: nested(h, 3, 0, 0).update(children=[RELU]),
        r"layer 3\.block\.block \(Tanh\) has a bad config: Tanh holds no child layers",
    ),
    "nested W of the wrong shape": (
        lambda h, a: a.update({BLOCK_W: np.zeros((8, 5), np.float32)}),
        r"'layers/2/0/0/block/0/W' has shape \(8, 5\), but the architecture needs \(8, 8\)",
    ),
    "nested W transposed": (
        lambda h, a: a.update({"layers/2/1/W": np.zeros((4, 8), np.float32)}),
        r"'layers/2/1/W' has shape \(4, 8\)",
    ),
    "nested Dense config that its W contradicts": (
        lambda h, a: nested(h, 2, 0, 0, 0)["children"][0]["config"].update(n_out=5),
        r"'layers/2/0/0/block/0/W' has shape \(8, 8\), but the architecture needs \(5, 8\)",
    ),
    "nested Dense of absurd size": (  # refused before any allocation
        lambda h, a: nested(h, 2, 0, 0, 0)["children"][0]["config"].update(n_in=10**12),
        r"'layers/2/0/0/block/0/W' has shape \(8, 8\), but the architecture needs",
    ),
    "nested array missing": (
        lambda h, a: a.pop("layers/2/0/0/block/3/running_var"),
        r"array 'layers/2/0/0/block/3/running_var' is missing",
    ),
    "nested array NaN": (
        lambda h, a: a.update({BLOCK_W: np.full((8, 8), np.nan, np.float32)}),
        r"'layers/2/0/0/block/0/W' contains NaN or inf",
    ),
    "residual block that changes the shape": (
        lambda h, a: (
            nested(h, 2, 0, 0, 0)["children"][0]["config"].update(n_out=5),
            nested(h, 2, 0, 0, 0)["children"][3]["config"].update(num_features=5),
            a.update({BLOCK_W: np.zeros((5, 8), np.float32)}),
        ),
        r"inconsistent: .*Residual's block must keep the shape",
    ),
}


@pytest.fixture
def nested_file(tmp_path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    net = trained(deep_net())
    net.save(tmp_path / "good.npz")
    return archive(tmp_path / "good.npz")


@pytest.mark.parametrize("edit", list(NESTING_EDITS), ids=list(NESTING_EDITS))
def test_wrongly_nested_header_is_refused(
    nested_file: tuple[dict[str, Any], dict[str, np.ndarray]], tmp_path: Path, edit: str
) -> None:
    header, arrays = nested_file
    change, pattern = NESTING_EDITS[edit]
    change(header, arrays)
    path = write(tmp_path / "edited.npz", header, arrays)
    with pytest.raises(ValueError, match=pattern):
        cr.load(path)


def test_nested_type_naming_code_is_never_executed(
    nested_file: tuple[dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    header, arrays = nested_file
    marker = tmp_path / "PWNED"
    for evil in ("os.system", "eval", "__import__", "subprocess.Popen", "Layer", "Activation"):
        nested(header, 2, 0, 0)["children"] = [
            {"type": evil, "config": {"command": f"touch {marker}"}, "children": [RELU]}
        ]
        with pytest.raises(ValueError, match=rf"layer 2\.0\.0\.block has unknown type '{evil}'"):
            cr.load(write(tmp_path / "evil.npz", header, arrays))
    assert not marker.exists()


def residual_tower(depth: int) -> str:
    """JSON of Residual(Residual(...(ReLU())...)) nested ``depth`` deep, built as text (json.dumps
    itself would recurse too deeply for the largest towers)."""
    return (
        '{"type": "Residual", "config": {}, "children": [' * depth + json.dumps(RELU) + "]}" * depth
    )


def header_with_layer(header: dict[str, Any], layer_json: str) -> str:
    header["layers"][3] = "@LAYER@"
    return json.dumps(header).replace('"@LAYER@"', layer_json)


@pytest.mark.parametrize(
    ("depth", "pattern"),
    [
        (100, r"the layer tree nests deeper than 64 levels"),
        (300, r"the layer tree nests deeper than 64 levels"),  # 600 JSON levels: parsed
        (100_000, r"the model header is not valid JSON"),  # json itself refuses it
    ],
)
def test_nesting_bomb_is_refused(
    nested_file: tuple[dict[str, Any], dict[str, np.ndarray]],
    tmp_path: Path,
    depth: int,
    pattern: str,
) -> None:
    header, arrays = nested_file
    path = write(tmp_path / "bomb.npz", header_with_layer(header, residual_tower(depth)), arrays)
    with pytest.raises(ValueError, match=pattern):
        cr.load(path)


def test_deep_but_legal_nesting_loads(
    nested_file: tuple[dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    """Control for the bomb: 50 nested Residuals are a valid (if odd) network."""
    header, arrays = nested_file
    path = write(tmp_path / "deep.npz", header_with_layer(header, residual_tower(50)), arrays)
    net = cr.load(path)
    tower = net.layers[3]
    for _ in range(50):
        assert isinstance(tower, Residual)
        tower = tower.block
    assert isinstance(tower, cr.ReLU)


# --- resuming a nested network -----------------------------------------------------------------
def resume_net() -> cr.Sequential:
    """Two nested Dropout layers (their generators are state beyond W, b and the optimizer) and
    a nested BatchNorm (buffers)."""
    return cr.Sequential(
        [
            cr.Dense(2, 12, seed=1),
            cr.ReLU(),
            Chain(
                [
                    Residual(Chain([cr.Dense(12, 12, seed=2), cr.Tanh(), Dropout(0.3, seed=3)])),
                    BatchNorm(12),
                ]
            ),
            Residual(Chain([cr.Dense(12, 12, seed=4), cr.ReLU(), Dropout(0.2, seed=5)])),
            cr.Dense(12, 3, seed=6),
            cr.Softmax(),
        ]
    )


def fit(net: cr.Sequential, epochs: int, **kw: Any) -> dict[str, list[Any]]:
    args: dict[str, Any] = dict(
        lr=0.01,
        batch_size=16,
        optimizer="adam",
        shuffle=True,
        standardize=True,
        verbose=False,
        seed=5,
        validation_data=(SPIRALS.X_test, SPIRALS.y_test),
    )
    args.update(kw)
    return net.fit(SPIRALS.X_train, SPIRALS.y_train, epochs=epochs, **args)


def without_times(history: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: v for k, v in history.items() if k != "epoch_time"}


def test_nested_resume_is_bit_identical(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    straight = resume_net()
    h_straight = fit(straight, 6)

    first = resume_net()
    fit(first, 3, checkpoint=path)
    assert not np.array_equal(first.layers[2][0].block[0].W, straight.layers[2][0].block[0].W)
    _, meta, opt_arrays = read_checkpoint(path)
    assert meta["epoch"] == 3 and set(meta["layer_rngs"]) == {"2.0.block.2", "3.block.2"}
    assert {"m:2.0.block.0.W", "v:3.block.0.b", "m:2.1.gamma"} <= set(opt_arrays)

    resumed = resume_net()  # a fresh process would build the network anew, as here
    h_resumed = fit(resumed, 6, checkpoint=path, resume=path)
    assert_same_arrays(straight, resumed)
    assert without_times(h_resumed) == without_times(h_straight)
    X = SPIRALS.X_test
    assert np.array_equal(resumed.predict_proba(X), straight.predict_proba(X))
    assert_same_arrays(straight, cr.load(path))  # the final checkpoint holds epoch 6


def test_nested_rng_states_are_restored_by_tree_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Controls: not restoring the nested generators, or restoring each to the other Dropout's
    path, both change the resumed weights."""
    path = tmp_path / "run.npz"
    straight = resume_net()
    fit(straight, 4)
    fit(resume_net(), 2, checkpoint=path)
    real = ck._layer_rngs

    def swapped(net: Any) -> dict[str, np.random.Generator]:
        rngs = real(net)
        return dict(zip(rngs, reversed(list(rngs.values()))))

    for wrong in (lambda net: {}, swapped):
        monkeypatch.setattr(ck, "_layer_rngs", wrong)
        resumed = resume_net()
        fit(resumed, 4, resume=path)
        W, W_straight = resumed.layers[0].W, straight.layers[0].W
        assert not np.array_equal(W, W_straight)
    monkeypatch.setattr(ck, "_layer_rngs", real)
    resumed = resume_net()
    fit(resumed, 4, resume=path)
    assert_same_arrays(straight, resumed)


def test_resume_with_another_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    fit(resume_net(), 1, checkpoint=path)
    other = resume_net()
    other.layers[3].block.layers[2] = Dropout(0.1, seed=5)  # same shapes, another tree
    with pytest.raises(ValueError, match=r"cannot resume from .*p=0\.2.*p=0\.1"):
        fit(other, 2, resume=path)


# --- old import paths --------------------------------------------------------------------------
CHILD = r"""
import importlib, json, sys
import chainrule as cr
from chainrule._compat import MOVED

out = {"moved": {}}
for old, new in MOVED.items():
    try:
        a = importlib.import_module(old)
        b = importlib.import_module(new)
        out["moved"][old] = {"same": a is b, "registered": sys.modules[old] is b,
                             "name": a.__name__}
    except Exception as exc:
        out["moved"][old] = {"same": False, "registered": False, "name": repr(exc)}

named = {}
import chainrule.losses
named["import chainrule.losses"] = chainrule.losses is cr.nn.losses is cr.losses
from chainrule.network import Sequential, to_engine
from chainrule.data.layout import to_engine as new_to_engine
named["from chainrule.network import Sequential, to_engine"] = (
    Sequential is cr.Sequential and to_engine is new_to_engine)
from chainrule.layers.dense import Dense
named["from chainrule.layers.dense import Dense"] = Dense is cr.Dense is cr.nn.Dense
from chainrule.optimizers import Adam
named["from chainrule.optimizers import Adam"] = Adam is cr.optim.Adam
import chainrule.datasets
named["chainrule.datasets.load"] = chainrule.datasets.load is cr.data.load is cr.datasets.load
from chainrule.serialization import load
named["from chainrule.serialization import load"] = load is cr.load
from chainrule.training import fit
import chainrule.train.fit
named["from chainrule.training import fit"] = fit is chainrule.train.fit.fit
from chainrule.builders import mlp
named["from chainrule.builders import mlp"] = mlp is cr.mlp
out["named"] = named

# side effects of the old paths on the new modules and on the layer registry
import importlib.resources
import tempfile, os
from chainrule.nn.layer import LAYER_REGISTRY
from chainrule.fast.support import why_not_fast
effects = {}
effects["registry Dense is cr.Dense"] = LAYER_REGISTRY["Dense"] is cr.Dense
net = cr.mlp([2, 3, 2], seed=0)
path = os.path.join(tempfile.mkdtemp(), "m.npz")
net.save(path)
loaded = cr.load(path)
effects["a loaded Dense is a cr.Dense"] = isinstance(loaded.layers[0], cr.Dense)
effects["the fast engine takes a loaded MLP"] = why_not_fast(loaded) is None
effects["new modules keep their own __spec__"] = all(
    importlib.import_module(new).__spec__.name == new for new in MOVED.values())
try:
    importlib.resources.files("chainrule.data")
    effects["importlib.resources reads chainrule.data"] = True
except Exception:
    effects["importlib.resources reads chainrule.data"] = False
out["effects"] = effects
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def old_imports() -> dict[str, Any]:
    """The old-path imports, run in a child process (they may re-execute modules)."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def moved_params() -> list[Any]:
    return [pytest.param(old, new, id=old) for old, new in MOVED.items()]


@pytest.mark.parametrize(("old", "new"), moved_params())
def test_old_import_path_is_the_new_module(old_imports: dict[str, Any], old: str, new: str) -> None:
    result = old_imports["moved"][old]
    assert result == {"same": True, "registered": True, "name": new}


NAMED = [
    "import chainrule.losses",
    "from chainrule.network import Sequential, to_engine",
    "from chainrule.layers.dense import Dense",
    "from chainrule.optimizers import Adam",
    "chainrule.datasets.load",
    "from chainrule.serialization import load",
    "from chainrule.training import fit",
    "from chainrule.builders import mlp",
]


@pytest.mark.parametrize("statement", NAMED)
def test_old_names_are_the_same_objects(old_imports: dict[str, Any], statement: str) -> None:
    assert old_imports["named"][statement] is True


#: importing an old path runs the import system's _init_module_attrs on the module at the new
#: path, which overwrites its __spec__ with the old path's spec: after `import chainrule.datasets`
#: importlib.resources says chainrule.data "is not a package"
EFFECTS = [
    "registry Dense is cr.Dense",
    "a loaded Dense is a cr.Dense",
    "the fast engine takes a loaded MLP",
    "new modules keep their own __spec__",
    "importlib.resources reads chainrule.data",
]


@pytest.mark.parametrize("effect", EFFECTS)
def test_old_imports_leave_the_library_intact(old_imports: dict[str, Any], effect: str) -> None:
    assert old_imports["effects"][effect] is True
