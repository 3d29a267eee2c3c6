"""``chainrule playground``'s JSON API, against a real uvicorn server on a loopback port.

Every request goes over TCP with http.client, so the Host and Origin headers are exactly the
ones written here (the DNS-rebinding checks see what a browser would send).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import chainrule as cr

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from chainrule.cli.main import main  # noqa: E402
from chainrule.playground.data import MAX_UPLOAD_BYTES  # noqa: E402
from chainrule.playground.server import PlaygroundServer, start_in_thread  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    srv = start_in_thread()
    yield srv
    srv.stop()


def request(
    server: PlaygroundServer,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    sent = {"Host": f"127.0.0.1:{server.port}"}
    if body is not None:
        raw = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for key, value in sent.items():
        conn.putheader(key, value)
    conn.putheader("Content-Length", str(len(raw or b"")))
    conn.endheaders(raw)
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    kind = reply.getheader("Content-Type", "")
    return reply.status, json.loads(data) if "json" in kind else data


def new_session(server: PlaygroundServer, **config: Any) -> tuple[str, dict]:
    status, reply = request(server, "POST", "/api/sessions", config)
    assert status == 200, reply
    return reply["id"], reply["state"]


def test_the_page_and_its_scripts_are_served(server: PlaygroundServer) -> None:
    status, page = request(server, "GET", "/")
    assert status == 200 and b"chainrule" in page and b"/static/app.js" in page
    for name in ("app.js", "draw.js", "style.css"):
        status, _ = request(server, "GET", f"/static/{name}")
        assert status == 200, name


def test_start_step_and_state(server: PlaygroundServer) -> None:
    sid, state = new_session(server, data="moons", layers=[4, 3], activation="tanh")
    assert state["steps"] == 0 and state["sizes"] == [2, 4, 3, 1] and state["output"] == "sigmoid"
    assert len(state["points"]["train"]) == state["n_train"] == 200
    assert [len(layer) for layer in state["neurons"]] == [2, 4, 3, 1]
    status, after = request(server, "POST", f"/api/sessions/{sid}/step", {"batches": 300})
    assert status == 200 and after["steps"] == 300
    assert after["metrics"]["test_accuracy"] > 0.85
    assert after["metrics"]["train_cost"] < state["metrics"]["train_cost"]
    assert all(g is not None and g > 0 for g in after["grad_norms"])
    assert len(after["history"]) == 2
    status, again = request(server, "GET", f"/api/sessions/{sid}")
    assert status == 200 and again["steps"] == 300 and again["metrics"] == after["metrics"]
    status, reset = request(server, "POST", f"/api/sessions/{sid}/reset")
    assert status == 200 and reset["steps"] == 0 and reset["weights"] == state["weights"]


def test_formula_panel_has_live_shapes_and_values(server: PlaygroundServer) -> None:
    sid, _ = new_session(server, data="gaussians", classes=3, layers=[5], batch=7)
    request(server, "POST", f"/api/sessions/{sid}/step", {"batches": 3})
    status, panel = request(server, "GET", f"/api/sessions/{sid}/formulas?layer=1")
    assert status == 200 and panel["m"] == 7
    forward = {line["formula"]: line for line in panel["forward"]}
    assert forward["Z[1] = W[1] @ A[0] + b[1]"]["shape"] == "(5,2)@(2,7) + (5,1) -> (5,7)"
    assert len(forward["W[1]"]["value"]) == 5
    backward = [line["formula"] for line in panel["backward"]]
    assert "dC_dW[1] = dC_dZ[1] @ A[0].T" in backward
    assert "dC_db[1] = sum over m of dC_dZ[1]" in backward
    status, out = request(server, "GET", f"/api/sessions/{sid}/formulas?layer=2")
    assert status == 200 and "softmax" in out["title"]
    lines = {line["formula"]: line for line in out["backward"]}
    assert lines["dC_dA[1] = W[2].T @ dC_dZ[2]"]["shape"] == "(5,3)@(3,7) -> (5,7)"
    status, bad = request(server, "GET", f"/api/sessions/{sid}/formulas?layer=9")
    assert status == 400 and "layer must be an int in [1, 2]" in bad["error"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"layers": [4] * 7}, "at most 6 hidden layers, got 7"),
        ({"layers": [9]}, "layers[0] must be an int in [1, 8], got 9"),
        ({"lr": 0}, "lr must be a number in (0, 10], got 0.0"),
        ({"lr": "fast"}, "lr must be a number, got the text 'fast'"),
        ({"batch": True}, "batch must be an int in [1, 1000], got bool True"),
        ({"data": "mnist"}, "data must be one of toy, xor, moons"),
        ({"features": []}, "features must name at least one"),
        ({"features": ["x3"]}, "feature must be one of x1, x2"),
        ({"noise": float("inf")}, "noise must be a number in [0, 1], got inf"),
        ({"points": 10**9}, "points must be an int in [20, 2000], got 1000000000"),
        ({"ratio": 1.0}, "ratio must be a number in [0.1, 0.9], got 1.0"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, momentum, adam"),
        ({"bogus": 1}, "unknown parameter(s) 'bogus'"),
        ({"data": "csv"}, "no CSV file has been uploaded"),
    ],
)
def test_bad_parameters_get_a_clear_400(
    server: PlaygroundServer, config: dict, message: str
) -> None:
    status, reply = request(server, "POST", "/api/sessions", config)
    assert status == 400, reply
    assert message in reply["error"], reply["error"]


def test_bad_requests_on_a_session(server: PlaygroundServer) -> None:
    sid, _ = new_session(server)
    status, reply = request(server, "POST", f"/api/sessions/{sid}/step", {"batches": 5000})
    assert status == 400 and "batches must be an int in [1, 1000], got 5000" in reply["error"]
    status, reply = request(server, "POST", "/api/sessions/nope/step", {"batches": 1})
    assert status == 404 and "no session 'nope'" in reply["error"]
    status, reply = request(
        server,
        "POST",
        f"/api/sessions/{sid}/step",
        headers={"Content-Type": "text/plain"},
        raw=b"1",
    )
    assert status == 415 and "application/json" in reply["error"]
    status, reply = request(
        server, "POST", "/api/sessions", headers={"Content-Type": "application/json"}, raw=b"{x"
    )
    assert status == 400 and "not valid JSON" in reply["error"]
    status, reply = request(server, "POST", f"/api/sessions/{sid}/config", {"layers": "4,x"})
    assert status == 400 and "layers[1]" in reply["error"]
    status, reply = request(server, "GET", f"/api/sessions/{sid}")  # still fine after all that
    assert status == 200 and reply["steps"] == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example:80"},
        {"Host": "evil.example"},
        {"Host": "127.0.0.1:1"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ],
)
def test_foreign_host_or_origin_is_refused(server: PlaygroundServer, headers: dict) -> None:
    status, reply = request(server, "POST", "/api/sessions", {}, headers=headers)
    assert status == 403 and reply["error"].startswith("refused:")
    status, _ = request(server, "GET", "/", headers=headers)
    assert status == 403


def test_localhost_host_and_own_origin_are_accepted(server: PlaygroundServer) -> None:
    headers = {"Host": f"localhost:{server.port}", "Origin": f"http://localhost:{server.port}"}
    status, reply = request(server, "POST", "/api/sessions", {}, headers=headers)
    assert status == 200 and reply["id"]


def test_csv_upload_and_limits(server: PlaygroundServer) -> None:
    sid, _ = new_session(server)
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(60))
    csv = f"a,b,label\n{rows}\n".encode()
    upload = f"/api/sessions/{sid}/upload"
    status, state = request(server, "POST", upload, headers={"Content-Type": "text/csv"}, raw=csv)
    assert status == 200 and state["config"]["data"] == "csv" and state["plane"]
    assert state["n_train"] + state["n_test"] == 60 and state["points"] is not None
    wide = "a,b,c,d,label\n" + "\n".join(f"{i},{i % 3},{i % 5},{-i},{i % 2}" for i in range(40))
    status, state = request(server, "POST", upload, raw=wide.encode())
    assert status == 200 and not state["plane"] and state["sizes"][0] == 4
    status, state = request(server, "POST", f"/api/sessions/{sid}/step", {"batches": 5})
    assert status == 200 and state["steps"] == 5 and "boundary" not in state
    status, reply = request(server, "POST", upload, raw=b"a,b,label\n1,x,0\n2,3,1\n")
    assert status == 400 and "expected a number, got 'x'" in reply["error"]
    big = b"a,b,label\n" + b"1,2,0\n" * (MAX_UPLOAD_BYTES // 6 + 10)
    status, reply = request(server, "POST", upload, raw=big)
    assert status == 413 and "at most 1,000,000 bytes" in reply["error"]


def test_two_sessions_are_independent(server: PlaygroundServer) -> None:
    a, state_a = new_session(server, data="moons", layers=[4, 4], seed=1)
    b, state_b = new_session(server, data="spirals", classes=3, layers=[8], seed=2)
    errors: list[Any] = []

    def train(sid: str) -> None:
        for _ in range(15):
            status, reply = request(server, "POST", f"/api/sessions/{sid}/step", {"batches": 20})
            if status != 200:
                errors.append(reply)

    threads = [threading.Thread(target=train, args=(sid,)) for sid in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _, final_a = request(server, "GET", f"/api/sessions/{a}")
    _, final_b = request(server, "GET", f"/api/sessions/{b}")
    assert final_a["steps"] == final_b["steps"] == 600
    assert final_a["sizes"] == [2, 4, 4, 1] and final_b["sizes"] == [2, 8, 3]
    # the same set-up trained alone, in one go, gives the very same weights: no cross-talk
    c, _ = new_session(server, data="moons", layers=[4, 4], seed=1)
    _, alone = request(server, "POST", f"/api/sessions/{c}/step", {"batches": 600})
    assert alone["weights"] == final_a["weights"]


def test_cli_refuses_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playground", "--port", "70000", "--no-browser"]) == 2
    assert "--port must be an int in [0, 65535], got 70000" in capsys.readouterr().err


def test_saturated_and_dead_units_are_marked() -> None:
    import numpy as np

    from chainrule.data.layout import to_engine
    from chainrule.playground.render import unit_health

    A0 = to_engine(np.random.default_rng(0).normal(size=(50, 2)))  # (2, 50)
    for activation, mark in (("sigmoid", "saturated"), ("tanh", "saturated"), ("relu", "dead")):
        net = cr.mlp([2, 3, 1], activation=activation, output="sigmoid", seed=0, dtype=np.float64)
        assert unit_health(net, A0, activation) == [["", "", ""]], activation
        W = net.layers[0].W
        W[0] *= 1000.0  # unit 0 is driven to a limit by almost every input
        if activation == "relu":
            W[0] = 0.0
            net.layers[0].b[0] = -1.0  # unit 0 is 0 for every input
        assert unit_health(net, A0, activation)[0][0] == mark, activation


def test_cli_serves_the_page_on_loopback() -> None:
    import subprocess
    import sys
    import urllib.request

    code = "from chainrule.cli.main import main; main(['playground', '--no-browser'])"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("chainrule playground: http://127.0.0.1:"), line
            url = line.split()[2]
            for _ in range(100):
                try:
                    with urllib.request.urlopen(url, timeout=5) as reply:
                        assert reply.status == 200 and b"chainrule" in reply.read()
                        break
                except OSError:
                    time.sleep(0.05)
            else:
                raise AssertionError(f"no page at {url}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_cli_names_the_extra_when_a_dependency_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now fails
    monkeypatch.delitem(sys.modules, "chainrule.playground.server")
    assert main(["playground", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "chainrule[playground]"' in err, err
