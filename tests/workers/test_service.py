"""JobService's one error exit: secrets scrubbed, a too-deep body a 400 (issue 12, 3 and 5)."""

from __future__ import annotations

import asyncio
import io
import time

from gateway.contracts.bus import FRAME_DECODER, Error, Frame, Job, UsageEvent
from gateway.contracts.config import parse
from gateway.contracts.log import Logger
from gateway.contracts.redact import REDACTED, Redactor
from workers.main import build_routes
from workers.service import JobService

CONFIG = parse("""
[providers.echo]
kind = "echo"
[[models]]
id = "echo"
provider = "echo"
""")


class Frames:
    """A Publisher that keeps the frames of one job."""

    max_payload = 1 << 20

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                      headers: dict[str, str] | None = None) -> None:
        self.frames.append(FRAME_DECODER.decode(payload))


def run(body: bytes, redactor: Redactor | None = None) -> tuple[list[Frame], str]:
    frames, log = Frames(), io.StringIO()
    usage: list[UsageEvent] = []
    job = Job(request_id="req_1", key_id="k", op="chat", model="echo", provider="echo",
              upstream_model="echo", body=body, deadline=time.time() + 10)

    async def main() -> None:
        service = JobService(frames, build_routes(CONFIG), usage.append, Logger("worker", stream=log),
                             redactor=redactor)
        await service.run(job, "inbox.1")

    asyncio.run(main())
    return frames.frames, log.getvalue()


def test_a_body_too_deep_to_decode_is_a_400_frame_not_a_500() -> None:
    deep = "[" * 1000 + "]" * 1000
    frames, log = run(('{"model":"echo","messages":[{"role":"user","content":"x"}],"x":%s}' % deep).encode())
    [frame] = frames
    assert isinstance(frame, Error) and frame.status == 400
    assert (frame.error.type, frame.error.code) == ("invalid_request_error", None)
    assert "nested too deeply" in frame.error.message
    assert "job_failed" not in log


def test_an_error_frame_carries_no_secret() -> None:
    # The echo provider repeats the caller's text; a validation message quoting the body is
    # the simplest error carrying text we choose, so the scrub is visible at the frame.
    secret = "sk-worker-secret-123"
    frames, _ = run(('{"model":"echo","messages":[{"role":"%s"}]}' % secret).encode(), Redactor([secret]))
    [frame] = frames
    assert isinstance(frame, Error) and frame.status == 400
    assert secret not in frame.error.message and REDACTED in frame.error.message
