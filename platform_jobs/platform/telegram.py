"""Backups in a Telegram chat through the Bot API.

Each part is one ``sendDocument`` (multipart/form-data, streamed from disk with a Content-Length:
never read into memory); the manifest, with every part's ``file_id``, is sent last.
``location`` = ``telegram:<chat_id>:<manifest file_id>``. A restore calls ``getFile`` and downloads
``<api>/file/bot<token>/<file_path>``.

Limits of the cloud Bot API: uploads up to 50 MB, ``getFile`` downloads up to 20 MB, hence the
default part size of 19 MiB. The bot token never appears in errors (it is part of every URL).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import requests

from platform_jobs.platform.storage import (
    MANIFEST_NAME,
    Progress,
    StagedPart,
    StorageError,
    StoredBackup,
    part_record,
)

CHUNK = 256 * 1024
TIMEOUT = (10, 300)  # connect, read (seconds)
ATTEMPTS = 4  # per request, for 429 (honouring retry_after) and 5xx
MAX_WAIT = 60.0
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


class MultipartBody:
    """A multipart/form-data body read lazily from a file, with a known length."""

    def __init__(self, fields: dict[str, str], file_field: str, filename: str, path: Path) -> None:
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        )
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._pieces: list[bytes | Path] = [head, path, f"\r\n--{self.boundary}--\r\n".encode()]
        self._length = len(head) + path.stat().st_size + len(self._pieces[2])  # type: ignore[arg-type]
        self._iter = self._chunks()
        self._buffer = b""

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def _chunks(self) -> Iterator[bytes]:
        for piece in self._pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            with open(piece, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._iter, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class TelegramStorage:
    name = "telegram"

    def __init__(self, api_url: str, token: str, chat_id: str, part_bytes: int) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.chat_id = chat_id
        self.part_bytes = part_bytes

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    def _request(self, method: str, url: str, body_factory: Any = None, **kwargs: Any) -> requests.Response:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if body_factory is not None:
                    body = body_factory()
                    kwargs["data"] = body
                    kwargs["headers"] = {"Content-Type": body.content_type}
                response = requests.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
            except requests.RequestException as exc:
                if attempt == ATTEMPTS:
                    raise StorageError(self._scrub(f"Telegram Bot API unreachable: {exc}")) from None
                time.sleep(min(2.0 ** attempt, MAX_WAIT))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == ATTEMPTS:
                    return response
                wait = 2.0 ** attempt
                with contextlib.suppress(ValueError):
                    wait = float(response.json().get("parameters", {}).get("retry_after", wait))
                response.close()
                time.sleep(min(wait, MAX_WAIT))
                continue
            return response
        raise AssertionError("unreachable")

    def _call(self, method: str, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200 or not data.get("ok"):
            description = data.get("description") or response.text[:200]
            raise StorageError(self._scrub(
                f"Telegram {method} failed: HTTP {response.status_code} {description}"
            ))
        result: dict[str, Any] = data["result"]
        return result

    def send_document(self, path: Path, filename: str, caption: str) -> dict[str, Any]:
        url = f"{self.api_url}/bot{self._token}/sendDocument"
        fields = {"chat_id": self.chat_id, "caption": caption[:1000]}
        response = self._request(
            "POST", url, body_factory=lambda: MultipartBody(fields, "document", filename, path)
        )
        message = self._call("sendDocument", response)
        document = message.get("document") or {}
        if "file_id" not in document:
            raise StorageError("Telegram sendDocument answered without a document file_id")
        return {"file_id": document["file_id"], "message_id": message.get("message_id")}

    def store(self, key: str, parts: list[StagedPart], manifest: dict[str, Any],
              progress: Progress) -> StoredBackup:
        records = []
        for part in parts:
            progress(part.index, len(parts))
            if part.bytes > self.part_bytes:
                raise StorageError(f"part {part.name} is larger than PJ_TELEGRAM_PART_BYTES")
            sent = self.send_document(part.path, f"{key.replace('/', '_')}.{part.name}",
                                      f"backup {key} part {part.index}/{len(parts)}")
            records.append(part_record(part, **sent))
        manifest = {**manifest, "parts": records}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(manifest, handle, indent=2)
        try:
            sent = self.send_document(Path(handle.name), f"{key.replace('/', '_')}.{MANIFEST_NAME}",
                                      f"backup {key} manifest")
        finally:
            os.unlink(handle.name)
        return StoredBackup(location=f"telegram:{self.chat_id}:{sent['file_id']}", parts=records)

    def _download(self, file_id: str, sink: IO[bytes], limit: int | None = None) -> None:
        response = self._request("GET", f"{self.api_url}/bot{self._token}/getFile", params={"file_id": file_id})
        file_path = self._call("getFile", response).get("file_path")
        if not file_path:
            raise StorageError("Telegram getFile answered without a file_path")
        url = f"{self.api_url}/file/bot{self._token}/{file_path}"
        with self._request("GET", url, stream=True) as response:
            if response.status_code != 200:
                raise StorageError(f"Telegram file download failed: HTTP {response.status_code}")
            total = 0
            for chunk in response.iter_content(CHUNK):
                total += len(chunk)
                if limit is not None and total > limit:
                    raise StorageError("Telegram file larger than expected")
                sink.write(chunk)

    def fetch_manifest(self, location: str) -> dict[str, Any]:
        prefix, _, rest = location.partition(":")
        chat_id, _, file_id = rest.rpartition(":")
        if prefix != "telegram" or not file_id:
            raise StorageError(f"not a Telegram backup location: {location}")
        with tempfile.TemporaryFile() as handle:
            self._download(file_id, handle, MAX_MANIFEST_BYTES)
            handle.seek(0)
            manifest: dict[str, Any] = json.load(handle)
        return manifest

    def fetch_part(self, location: str, part: dict[str, Any], dest: Path) -> None:
        with open(dest, "wb") as handle:
            self._download(part["file_id"], handle, int(part["bytes"]))
