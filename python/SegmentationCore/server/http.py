"""The HTTP layer: a threading stdlib server, request checks, routing.

Security model (see docs/browser-tools.md):

* binds to 127.0.0.1 unless told otherwise;
* answers only requests whose ``Host`` header names the address it is
  bound to (or ``localhost``), so a web page on another site cannot reach
  it through DNS rebinding;
* state-changing requests must be ``POST`` with a JSON body and, when the
  browser sends an ``Origin``, that origin must be this server: plain HTML
  forms and cross-site scripts cannot trigger writes (no CORS headers are
  ever sent);
* files are served only from the bundled web folder, and plate previews /
  outputs only from the configured roots (:mod:`.paths`).
"""

from __future__ import annotations

import json
import mimetypes
import socket
import sys
import threading
import traceback
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from ..core.errors import OutputError, PlateError, PromptError, SegmentationError
from .backends import ModelsBusy
from .paths import PathOutsideRootError

MAX_BODY = 32 * 1024 * 1024


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Response:
    def __init__(self, body: bytes, content_type: str, status: int = 200, headers: dict[str, str] | None = None):
        self.body = body
        self.content_type = content_type
        self.status = status
        self.headers = headers or {}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, allow_nan=False).encode("utf-8"), "application/json; charset=utf-8", status)


class Request:
    def __init__(self, method: str, path: str, query: dict[str, str], body: Any, headers):
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers

    def arg(self, name: str, default: Any = ..., kind: Callable[[Any], Any] = str) -> Any:
        """A parameter from the JSON body (POST) or the query string (GET)."""
        source = self.body if isinstance(self.body, dict) else self.query
        if name not in source or source[name] is None:
            if default is ...:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"Missing parameter {name!r}")
            return default
        try:
            return kind(source[name])
        except (TypeError, ValueError):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Parameter {name!r} has an invalid value {source[name]!r}") from None


Route = Callable[[Request], Response]


def _error_status(error: Exception) -> int:
    if isinstance(error, HttpError):
        return error.status
    if isinstance(error, PathOutsideRootError):
        return HTTPStatus.FORBIDDEN
    if isinstance(error, (FileNotFoundError, KeyError)):
        return HTTPStatus.NOT_FOUND
    if isinstance(error, (OutputError, ModelsBusy)):
        return HTTPStatus.CONFLICT
    if isinstance(error, (PlateError, PromptError, SegmentationError, ValueError)):
        return HTTPStatus.BAD_REQUEST
    return HTTPStatus.INTERNAL_SERVER_ERROR


class ToolServer(ThreadingHTTPServer):
    """The server object: holds the routes and the allowed host names."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: dict[tuple[str, str], Route], prefix_routes: list[tuple[str, str, Route]], quiet: bool = False):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.routes = routes
        self.prefix_routes = prefix_routes
        self.quiet = quiet
        super().__init__(address, RequestHandler)
        host, port = self.server_address[:2]
        self.allowed_hosts = self._allowed_hosts(address[0], port)

    @staticmethod
    def _allowed_hosts(host: str, port: int) -> set[str] | None:
        if host in ("0.0.0.0", "::", ""):
            return None  # bound everywhere on purpose: any Host is accepted
        names = {host, "localhost", "127.0.0.1", "[::1]"}
        allowed = set()
        for name in names:
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"
            allowed.add(f"{name}:{port}".lower())
            if port == 80:
                allowed.add(name.lower())
        return allowed

    def server_close(self) -> None:
        super().server_close()
        for callback in getattr(self, "on_close", []):
            callback()

    def serve_until_interrupted(self, name: str, exposure: str) -> None:
        """Serve until Ctrl+C, then close. ``name`` prefixes the messages;
        a server bound beyond this machine warns that anyone can ``exposure``
        (what a visitor could do, e.g. "read the plates and results")."""
        host = self.server_address[0]
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"{name}: WARNING: listening on {host}: anyone who can reach this machine can {exposure}", file=sys.stderr)
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            print(f"{name}: stopped", file=sys.stderr)
        finally:
            self.server_close()

    def start_thread(self, name: str) -> "ToolServer":
        """Serve in a daemon thread (tests, notebooks); returns the server.
        Stop it with ``server.shutdown(); server.server_close()``."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
        thread.start()
        self.thread = thread
        return self

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"


class RequestHandler(BaseHTTPRequestHandler):
    server: ToolServer
    server_version = "GafferSegmentation"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if not self.server.quiet:
            sys.stderr.write("serve: %s - %s\n" % (self.address_string(), format % args))

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("GET", head=True)

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _check_host(self) -> None:
        allowed = self.server.allowed_hosts
        if allowed is None:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in allowed:
            raise HttpError(HTTPStatus.FORBIDDEN, f"Host {host!r} is not this server; open {self.server.url}")

    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is None or self.server.allowed_hosts is None:
            return
        parsed = urllib.parse.urlsplit(origin)
        if parsed.scheme != "http" or parsed.netloc.lower() not in self.server.allowed_hosts:
            raise HttpError(HTTPStatus.FORBIDDEN, f"Requests from {origin} are not accepted")

    def _read_raw_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "Bad Content-Length") from None
        if length < 0 or length > MAX_BODY:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large")
        return self.rfile.read(length) if length else b""

    def _parse_body(self, raw: bytes) -> Any:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "POST requests must send a JSON body (Content-Type: application/json)")
        try:
            body = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError) as error:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "Body must be a JSON object")
        return body

    def _route(self, method: str, path: str) -> Route:
        route = self.server.routes.get((method, path))
        if route is not None:
            return route
        for route_method, prefix, prefix_route in self.server.prefix_routes:
            if route_method == method and path.startswith(prefix):
                return prefix_route
        if any(p == path for _, p in self.server.routes) or any(path.startswith(p) for _, p, _ in self.server.prefix_routes):
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed on {path}")
        raise HttpError(HTTPStatus.NOT_FOUND, f"Nothing at {path}")

    def _handle(self, method: str, head: bool = False) -> None:
        raw = None
        try:
            if method == "POST":
                raw = self._read_raw_body()  # always consumed, so the connection stays usable
            self._check_host()
            split = urllib.parse.urlsplit(self.path)
            # Decoded once: "%2e%2e" becomes "..", which the root checks refuse;
            # "%252e" stays "%2e", a name with '%' that they refuse too.
            path = urllib.parse.unquote(split.path)
            if "\x00" in path:
                raise HttpError(HTTPStatus.BAD_REQUEST, "NUL in path")
            query = {key: values[-1] for key, values in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
            body = None
            if method == "POST":
                self._check_origin()
                body = self._parse_body(raw)
            route = self._route(method, path)
            response = route(Request(method, path, query, body, self.headers))
        except Exception as error:  # every failure becomes a JSON error for the browser
            status = _error_status(error)
            if status == HTTPStatus.INTERNAL_SERVER_ERROR:
                traceback.print_exc()
            message = str(error) if not isinstance(error, KeyError) else str(error.args[0] if error.args else error)
            response = json_response({"error": message, "type": type(error).__name__}, status)
            if method == "POST" and raw is None:
                self.close_connection = True  # the body was not read
        self._send(response, head)

    def _send(self, response: Response, head: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        )
        for name, value in response.headers.items():
            self.send_header(name, value)
        if "Cache-Control" not in response.headers:
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(response.body)


def static_file_response(data: bytes, name: str) -> Response:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript",):
        content_type += "; charset=utf-8"
    return Response(data, content_type)


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not true or false")
