"""The playground's web app: one page, a JSON API over sessions, loopback only.

Routes (every reply JSON; an error is ``{"error": message}`` with a 4xx status):

    GET    /                                  the page (static/index.html)
    POST   /api/sessions                      {set-up}        -> {"id", "state"}
    GET    /api/sessions/{id}                                 -> state
    POST   /api/sessions/{id}/step            {"batches": n}  -> state
    POST   /api/sessions/{id}/reset                           -> state
    POST   /api/sessions/{id}/config          {set-up}        -> state
    POST   /api/sessions/{id}/upload          CSV bytes       -> state
    GET    /api/sessions/{id}/formulas?layer=l                -> the formula panel of layer l
    DELETE /api/sessions/{id}

Safety: the server binds 127.0.0.1 only; a request whose Host is not 127.0.0.1:port or
localhost:port (DNS rebinding) or whose Origin is not this server is refused with 403; bodies are
size-limited; every parameter goes through :mod:`chainrule.playground.params`; a session is
touched only under its own lock, so two tabs never share or corrupt a run.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from chainrule.playground.data import MAX_UPLOAD_BYTES
from chainrule.playground.params import parse_batches, parse_config
from chainrule.playground.session import Session

__all__ = ["create_app", "PlaygroundServer", "start_in_thread", "serve", "MAX_SESSIONS"]

STATIC = Path(__file__).resolve().parent / "static"
MAX_SESSIONS = 32
MAX_JSON_BYTES = 64_000
LOCK_TIMEOUT_S = 10.0
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=HEADERS)


class LocalOnly:
    """ASGI middleware: refuse any request whose Host or Origin is not this loopback server."""

    def __init__(self, app: Any, port_of: Any) -> None:
        self.app, self.port_of = app, port_of

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            port = self.port_of()
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
            host, origin = headers.get("host", ""), headers.get("origin")
            message = None
            if host not in hosts:
                message = (
                    f"refused: Host must be 127.0.0.1:{port} or localhost:{port}, got {host!r}"
                )
            elif origin is not None and origin not in {f"http://{h}" for h in hosts}:
                message = f"refused: Origin must be this server (http://{host}), got {origin!r}"
            if message is not None:
                await _error(403, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Registry:
    """Sessions by id, at most MAX_SESSIONS (the least recently used one goes first)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: OrderedDict[str, Session] = OrderedDict()

    def add(self, session: Session) -> str:
        sid = secrets.token_urlsafe(12)
        with self.lock:
            self.sessions[sid] = session
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        return sid

    def get(self, sid: str) -> Session:
        with self.lock:
            if sid not in self.sessions:
                raise HTTPError(404, f"no session {sid!r}: it ended or the server restarted")
            self.sessions.move_to_end(sid)
            return self.sessions[sid]

    def remove(self, sid: str) -> None:
        with self.lock:
            self.sessions.pop(sid, None)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"the request body must be at most {limit:,} bytes, got {declared}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"the request body must be at most {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/json":
        raise HTTPError(415, f"expected Content-Type application/json, got {kind or 'none'!r}")
    raw = await _body(request, MAX_JSON_BYTES)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"the request body is not valid JSON: {exc}") from None


def _locked(session: Session, fn: Any) -> Any:
    if not session.lock.acquire(timeout=LOCK_TIMEOUT_S):
        raise HTTPError(409, "this session is busy with another request; try again")
    try:
        return fn()
    finally:
        session.lock.release()


def create_app(port_of: Any = lambda: 0) -> Any:
    """The ASGI app; ``port_of()`` returns the port the server listens on (for the Host check)."""
    registry = Registry()

    def endpoint(handler: Any) -> Any:
        async def wrapped(request: Request) -> Response:
            try:
                result = await handler(request)
            except HTTPError as exc:
                return _error(exc.status, str(exc))
            except (ValueError, TypeError) as exc:
                return _error(400, str(exc))
            except Exception as exc:  # never a crashed server: the page shows the message
                return _error(500, f"internal error: {type(exc).__name__}: {exc}")
            if isinstance(result, Response):
                return result
            return JSONResponse(result, headers=HEADERS)

        return wrapped

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def create(request: Request) -> Any:
        config = parse_config(await _json(request))
        session = await run_in_threadpool(Session, config)
        sid = registry.add(session)
        state = await run_in_threadpool(_locked, session, lambda: session.snapshot(True))
        return {"id": sid, "state": state}

    async def state(request: Request) -> Any:
        session = registry.get(request.path_params["sid"])
        points = request.query_params.get("points") == "1"
        return await run_in_threadpool(_locked, session, lambda: session.snapshot(points))

    async def step(request: Request) -> Any:
        session = registry.get(request.path_params["sid"])
        batches = parse_batches(await _json(request))

        def run() -> Any:
            session.step(batches)
            return session.snapshot()

        return await run_in_threadpool(_locked, session, run)

    async def reset(request: Request) -> Any:
        session = registry.get(request.path_params["sid"])

        def run() -> Any:
            session.reset()
            return session.snapshot(True)

        return await run_in_threadpool(_locked, session, run)

    async def configure(request: Request) -> Any:
        session = registry.get(request.path_params["sid"])
        config = parse_config(await _json(request))

        def run() -> Any:
            session.configure(config)
            return session.snapshot(True)

        return await run_in_threadpool(_locked, session, run)

    async def upload(request: Request) -> Any:
        session = registry.get(request.path_params["sid"])
        content = await _body(request, MAX_UPLOAD_BYTES)

        def run() -> Any:
            session.upload(content)
            return session.snapshot(True)

        return await run_in_threadpool(_locked, session, run)

    async def formulas(request: Request) -> Any:
        session = registry.get(request.path_params["sid"])
        raw = request.query_params.get("layer", "")
        if not raw.isdigit():
            raise HTTPError(400, f"layer must be an int (the layer number l >= 1), got {raw!r}")
        return await run_in_threadpool(_locked, session, lambda: session.formulas(int(raw)))

    async def delete(request: Request) -> Any:
        registry.remove(request.path_params["sid"])
        return {"deleted": True}

    routes = [
        Route("/", page),
        Route("/favicon.ico", favicon),
        Route("/api/sessions", endpoint(create), methods=["POST"]),
        Route("/api/sessions/{sid}", endpoint(state), methods=["GET"]),
        Route("/api/sessions/{sid}", endpoint(delete), methods=["DELETE"]),
        Route("/api/sessions/{sid}/step", endpoint(step), methods=["POST"]),
        Route("/api/sessions/{sid}/reset", endpoint(reset), methods=["POST"]),
        Route("/api/sessions/{sid}/config", endpoint(configure), methods=["POST"]),
        Route("/api/sessions/{sid}/upload", endpoint(upload), methods=["POST"]),
        Route("/api/sessions/{sid}/formulas", endpoint(formulas), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.registry = registry
    return LocalOnly(app, port_of)


def _loopback_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    return sock


class PlaygroundServer:
    """A playground server on 127.0.0.1 (``port=0``: a free one); :meth:`run` blocks."""

    def __init__(self, port: int = 0) -> None:
        self.sock = _loopback_socket(port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        config = uvicorn.Config(
            create_app(lambda: self.port),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        self.server.run(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()


def start_in_thread(port: int = 0) -> PlaygroundServer:
    """Start a server in a background thread (tests, scripts); ``.url``, ``.stop()``."""
    server = PlaygroundServer(port)
    server.thread = threading.Thread(target=server.run, daemon=True, name="playground")
    server.thread.start()
    deadline = time.monotonic() + 10
    while not server.server.started:
        if not server.thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the playground server did not start")
        time.sleep(0.02)
    return server


def serve(port: int = 0, open_browser: bool = True) -> None:
    """Run the playground until Ctrl-C, printing its address (and opening it)."""
    server = PlaygroundServer(port)
    print(f"chainrule playground: {server.url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(server.url,)).start()
    server.run()
