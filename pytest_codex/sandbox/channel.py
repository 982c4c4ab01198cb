"""Trusted side of one sample's connection: framed messages with a deadline, output drained.

While it waits for the child, the channel keeps reading the child's stdout/stderr pipe
(so a chatty sample never blocks) and keeps only the last ``output_cap`` bytes.
"""

from __future__ import annotations

import os
import select
import socket
import time

from pytest_codex.core import text
from pytest_codex.sandbox import wire

FRAME_LIMIT = 16 << 20  # bytes of one message from the sample
RECEIVED_LIMIT = 64 << 20  # bytes of all its messages together (the replay's answers are read at once)
DRAIN_CHUNKS = 16  # reads of the output pipe per wake-up, so a full pipe cannot hold the loop


class SampleTimeout(Exception):
    """The deadline passed while waiting for the child."""


class ChannelClosed(Exception):
    """The child closed its end (it exited, crashed, or closed the socket)."""


class Channel:
    def __init__(self, sock: socket.socket, out_fd: int, deadline: float, output_cap: int) -> None:
        self.sock, self.out_fd, self.deadline, self.cap = sock, out_fd, deadline, output_cap
        sock.setblocking(False)
        os.set_blocking(out_fd, False)
        self._poll = select.poll()
        self._poll.register(out_fd, select.POLLIN)
        self._poll.register(sock.fileno(), select.POLLIN)
        self._buf = bytearray()
        self._out = bytearray()
        self.output_bytes = 0
        self.received = 0  # bytes of messages from the sample
        self._out_open = True

    # -- output pipe -------------------------------------------------------------
    def _drain_output(self, chunks: int = DRAIN_CHUNKS) -> None:
        """Read what the output pipe holds, at most ``chunks`` reads (the wait loop comes back
        while there is more, and checks the deadline in between)."""
        for _ in range(chunks):
            if not self._out_open:
                return
            try:
                chunk = os.read(self.out_fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self._out_open = False
                self._poll.unregister(self.out_fd)
                return
            self.output_bytes += len(chunk)
            self._out += chunk
            if len(self._out) > 2 * self.cap:
                del self._out[: -self.cap]

    def output(self) -> str:
        """The kept tail of the output, made safe (``text.clean``: valid UTF-8, control
        characters visible, bounded)."""
        self._drain_output(chunks=1 << 12)  # every writer is dead: this reaches the end
        raw = bytes(self._out[-self.cap :]).decode("utf-8", "replace")
        safe = text.clean(raw, 4 * len(raw) + 1)  # escaped whole, then its tail kept
        if self.output_bytes > self.cap or len(safe) > self.cap:
            safe = f"[{max(self.output_bytes - self.cap, 0)} earlier bytes not kept]\n" + safe[-self.cap :]
        return safe

    # -- waiting -----------------------------------------------------------------
    def _wait(self, events: int) -> None:
        """Block until the socket has ``events`` (draining output meanwhile)."""
        fd = self.sock.fileno()
        self._poll.modify(fd, events)
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise SampleTimeout()
            for ready_fd, ev in self._poll.poll(left * 1000 + 1):
                if ready_fd == self.out_fd:
                    self._drain_output()
                elif ev:
                    return

    # -- messages ----------------------------------------------------------------
    def send(self, obj) -> None:
        self.send_text(wire.dumps(obj))

    def send_text(self, text: str) -> None:
        data = memoryview(wire.frame_text(text))
        while data:
            try:
                data = data[self.sock.send(data) :]
                continue
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                raise ChannelClosed() from None
            self._wait(select.POLLOUT)

    def recv(self):
        """The next message from the child (raises WireError on malformed data)."""
        return wire.loads(self.recv_frame())

    def recv_frame(self) -> bytes:
        """The next message's body, not parsed (raises WireError when over the size limits)."""
        return self._frame(counted=True, chunk=1 << 16)

    def _frame(self, counted: bool, chunk: int) -> bytes:
        """The next frame's body: at most ``FRAME_LIMIT`` bytes and, when ``counted``, within
        the sample's ``RECEIVED_LIMIT`` in all (``wire.OverBudget`` otherwise)."""
        while True:
            if len(self._buf) >= wire.HEADER.size:
                (size,) = wire.HEADER.unpack_from(self._buf)
                if size > FRAME_LIMIT:
                    raise wire.OverBudget(f"message of {size} bytes exceeds the {FRAME_LIMIT}-byte limit")
                if counted and self.received + size > RECEIVED_LIMIT:
                    raise wire.OverBudget(f"the sample's messages exceed {RECEIVED_LIMIT} bytes in all")
                end = wire.HEADER.size + size
                if len(self._buf) >= end:
                    body = bytes(self._buf[wire.HEADER.size : end])
                    del self._buf[:end]
                    if counted:
                        self.received += size
                    return body
            try:
                data = self.sock.recv(chunk)
            except BlockingIOError:
                self._wait(select.POLLIN)
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                raise ChannelClosed()
            self._buf += data

    def close(self) -> None:
        self.sock.close()
        os.close(self.out_fd)
