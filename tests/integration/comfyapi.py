"""The few calls of ComfyUI's HTTP API the integration tests make, with the standard library."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or the text when it is not JSON


class ComfyClient:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _call(
        self, method: str, path: str, data: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if content_type else {}
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _reply(self, status: int, raw: bytes) -> Reply:
        try:
            return Reply(status, json.loads(raw))
        except ValueError:
            return Reply(status, raw.decode("utf-8", "replace"))

    def get_json(self, path: str) -> Any:
        status, raw = self._call("GET", path)
        assert status == 200, (path, status, raw[:500])
        return json.loads(raw)

    def submit(self, graph: dict[str, Any]) -> Reply:
        """POST /prompt: 200 with a prompt_id, or 400 with node_errors."""
        body = json.dumps({"prompt": graph, "client_id": self.client_id}).encode()
        return self._reply(*self._call("POST", "/prompt", body, "application/json"))

    def upload_image(self, name: str, image: Image.Image) -> str:
        """POST /upload/image; the name the server gives the file (for LoadImage)."""
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        boundary = uuid.uuid4().hex
        body = b"".join(
            [
                f"--{boundary}\r\nContent-Disposition: form-data; name=image; "
                f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'.encode(),
                buffer.getvalue(),
                f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=overwrite\r\n\r\n"
                f"true\r\n--{boundary}--\r\n".encode(),
            ]
        )
        reply = self._reply(
            *self._call("POST", "/upload/image", body, f"multipart/form-data; boundary={boundary}")
        )
        assert reply.status == 200, reply
        assert reply.body["subfolder"] == "", reply.body
        return str(reply.body["name"])

    def wait(self, prompt_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """Poll GET /history/{id} until the job is done (the server adds its entry then, with
        ``status.status_str`` "success" or "error"); its history entry."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry:
                return dict(entry)
            assert time.monotonic() < deadline, f"job {prompt_id} not done in {timeout:.0f} s"
            time.sleep(0.1)

    def images(self, entry: dict[str, Any]) -> list[Image.Image]:
        """The pictures a finished job saved, fetched through GET /view."""
        pictures: list[Image.Image] = []
        for output in entry["outputs"].values():
            for image in output.get("images", []):
                query = urllib.parse.urlencode(
                    {k: image[k] for k in ("filename", "subfolder", "type")}
                )
                status, raw = self._call("GET", f"/view?{query}")
                assert status == 200, (query, status)
                pictures.append(Image.open(io.BytesIO(raw)))
        return pictures
