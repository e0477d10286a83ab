"""External parties on 127.0.0.1: a scripted webhook receiver and a fake Telegram Bot API."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    # "normal"; "drip" (send headers, then one byte every drip_interval forever);
    # "huge" (send huge_bytes of body); "stall" (wait stall_seconds before answering).
    mode: str = "normal"
    drip_interval: float = 0.2
    huge_bytes: int = 10 * 1024 * 1024
    stall_seconds: float = 30.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Receiver:
    """Answers each POST with the next scripted Reply (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Reply] = [Reply()]
        # Optional: pick the reply from the request itself (concurrent deliveries arrive in any order).
        self.route: Callable[[Received], Reply] | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, time.time()))
                    if receiver.route is not None:
                        reply = receiver.route(receiver.received[-1])
                    else:
                        reply = receiver.script.pop(0) if len(receiver.script) > 1 else receiver.script[0]
                with contextlib.suppress(OSError):
                    receiver.answer(self, reply)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def set_script(self, *replies: Reply) -> None:
        with self._lock:
            self.script = list(replies)
            self.received.clear()

    def answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.mode == "stall":
            time.sleep(reply.stall_seconds)
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.mode == "drip":
            handler.send_header("Content-Length", "100000000")
            handler.end_headers()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(reply.drip_interval)
            return
        if reply.mode == "huge":
            handler.send_header("Content-Length", str(reply.huge_bytes))
            handler.end_headers()
            block = b"y" * 65536
            for _ in range(reply.huge_bytes // len(block)):
                handler.wfile.write(block)
            return
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeTelegram:
    """sendDocument (multipart, 413 above ``max_upload`` bytes), getFile and file download."""

    def __init__(self, token: str, chat_id: str, max_upload: int) -> None:
        self.token, self.chat_id, self.max_upload = token, chat_id, max_upload
        self.files: dict[str, bytes] = {}
        self.uploads: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path != f"/bot{fake.token}/sendDocument":
                    return self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                message = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
                )
                fields: dict[str, Any] = {}
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    fields[str(name)] = (part.get_filename(), part.get_payload(decode=True))
                document = fields.get("document")
                chat = fields.get("chat_id", (None, b""))[1].decode()
                if document is None or chat != fake.chat_id:
                    return self._json(400, {"ok": False, "error_code": 400, "description": "Bad Request"})
                filename, data = document
                if len(data) > fake.max_upload:
                    return self._json(413, {"ok": False, "error_code": 413,
                                            "description": "Request Entity Too Large"})
                number = next(fake._ids)
                file_id = f"FILE{number:04d}"
                fake.files[file_id] = data
                fake.uploads.append({"file_id": file_id, "filename": filename, "bytes": len(data)})
                self._json(200, {"ok": True, "result": {
                    "message_id": number, "chat": {"id": fake.chat_id},
                    "document": {"file_id": file_id, "file_unique_id": f"U{number}", "file_name": filename,
                                 "file_size": len(data)},
                }})

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path == f"/bot{fake.token}/getFile":
                    file_id = parse_qs(parts.query).get("file_id", [""])[0]
                    if file_id not in fake.files:
                        return self._json(400, {"ok": False, "error_code": 400,
                                                "description": "Bad Request: invalid file_id"})
                    return self._json(200, {"ok": True, "result": {
                        "file_id": file_id, "file_size": len(fake.files[file_id]),
                        "file_path": f"documents/{file_id}.bin"}})
                prefix = f"/file/bot{fake.token}/documents/"
                if parts.path.startswith(prefix) and parts.path.endswith(".bin"):
                    data = fake.files.get(parts.path[len(prefix):-4])
                    if data is not None:
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
