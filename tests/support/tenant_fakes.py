"""Real parties on loopback: the auth/realtime/storage services (HTTP) and an SMTP server."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from platform_jobs.embedded import free_port


@dataclass
class FakeService:
    """``POST /projects``: answers the same id for the same Idempotency-Key; can fail on demand."""

    name: str
    requests: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)  # idempotency key -> resource id
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def keys_for(self, project_id: uuid.UUID | str) -> list[str | None]:
        return [key for key, body in self.requests if body.get("project_id") == str(project_id)]

    def start(self) -> FakeService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key")
                with service.lock:
                    service.requests.append((key, body))
                    if service.fail_next > 0:
                        service.fail_next -= 1
                        status, answer = 500, {"error": "injected failure"}
                    elif self.path != "/projects" or not key:
                        status, answer = 400, {"error": "POST /projects with an Idempotency-Key"}
                    else:
                        created = key not in service.created
                        resource = service.created.setdefault(key, f"{service.name}-{uuid.uuid4().hex[:8]}")
                        status, answer = (201 if created else 200), {"id": resource}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Message]:
        with self.inbox.lock:
            return list(self.inbox.messages)

    def to(self, recipient: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == recipient]

    @staticmethod
    def text(message: Message) -> str:
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()
