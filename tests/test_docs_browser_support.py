"""Helpers for the dbt docs browser test (this module holds no tests): a static file server and
a minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no extra packages).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 at a free port in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="docs-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class CDPError(RuntimeError):
    pass


class Chromium:
    """Headless Chromium driven through the DevTools protocol on file descriptors 3 (in) and 4 (out)."""

    def __init__(self, binary: str = CHROMIUM, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="lakehouse-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:   # in the child: the protocol wants exactly fds 3 and 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-pipe", "about:blank"]
        self._proc = subprocess.Popen(args, preexec_fn=wire_fds, close_fds=False, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    # -- protocol ----------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("timed out waiting for Chromium")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise CDPError(f"Chromium exited: {self.stderr_tail()}")
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                return self.events.pop(i)
        while True:
            ev = self._read_message(deadline)
            if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                return ev
            self.events.append(ev)

    # -- page helpers --------------------------------------------------------------------
    def open(self, url: str) -> str:
        """Open ``url`` in a new tab, wait for its load event; returns the session id."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Runtime.enable", session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        """Evaluate JS (a promise is awaited) in the page; the JSON value of the result."""
        res = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True,
                                             "timeout": int(self.timeout * 1000)}, session=session)
        if "exceptionDetails" in res:
            raise CDPError(f"page script failed: {json.dumps(res['exceptionDetails'])[:2000]}")
        return res["result"].get("value")

    def stderr_tail(self) -> str:
        if self._proc.poll() is None or self._proc.stderr is None:
            return ""
        return self._proc.stderr.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                try:
                    self.send("Browser.close")
                except (CDPError, OSError):
                    pass
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=10)
        finally:
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Reads what the dbt docs app itself loaded: the `project` service (manifest.json + catalog.json
# merged) and the `graph` service (the lineage graph: nodes and edges drawn by cytoscape).
LINEAGE_JS = r"""
new Promise((resolve, reject) => {
  const deadline = Date.now() + 45000;
  const poll = () => {
    try {
      const el = document.querySelector('[ng-app]');
      const inj = window.angular && el && angular.element(el).injector();
      if (inj) {
        const project = inj.get('project');
        const graph = inj.get('graph');
        const files = project.files || {};
        const pristine = graph.graph && graph.graph.pristine;
        if (files.manifest && files.manifest.child_map && pristine && pristine.dag) {
          const edges = [];
          Object.values(pristine.edges).forEach(list => list.forEach(e => edges.push([e.data.source, e.data.target])));
          resolve({
            child_map: files.manifest.child_map,
            parent_map: files.manifest.parent_map,
            graph_nodes: Object.keys(pristine.nodes),
            graph_edges: edges,
            catalog_nodes: Object.keys((files.catalog || {}).nodes || {}).length,
            title: document.title,
          });
          return;
        }
      }
    } catch (err) { /* the app is still booting */ }
    if (Date.now() > deadline) { reject(new Error('dbt docs did not load its project in time')); return; }
    setTimeout(poll, 200);
  };
  poll();
})
"""


def reaches(children: dict[str, list[str]], start: str, goal: str) -> list[str] | None:
    """A path start -> goal following a child map (breadth first), or None."""
    prev: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node == goal:
            path = [node]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for child in children.get(node, []):
            if child not in prev:
                prev[child] = node
                queue.append(child)
    return None


def edges_to_children(edges: list[list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for src, dst in edges:
        out.setdefault(src, []).append(dst)
    return out
