"""A WebSocket client that stops reading: a raw socket with a tiny receive window."""

import base64
import json
import os
import socket
import struct
from typing import Any


class StuckClient:
    """A WebSocket client on a raw socket with a tiny receive window, which subscribes
    and then reads nothing at all until the test says so."""

    def __init__(self, port: int, token: str) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._sock.settimeout(10)
        self._sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self._sock.sendall(
            f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._sock.recv(4096)
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, message: dict[str, Any]) -> None:
        """A small frame: the kernel takes it at once, so this never blocks."""
        payload, mask = json.dumps(message).encode(), os.urandom(4)
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def receive(self) -> dict[str, Any]:
        opcode, payload = self._frame()
        assert opcode == 0x1, f"expected a text frame, got opcode {opcode}"
        message: dict[str, Any] = json.loads(payload)
        return message

    def receive_many(self, count: int) -> list[dict[str, Any]]:
        return [self.receive() for _ in range(count)]

    def receive_until_closed(self) -> tuple[list[dict[str, Any]], int]:
        """Every message still on its way, and the close code that ends them."""
        messages = []
        while True:
            opcode, payload = self._frame()
            if opcode == 0x8:
                return messages, struct.unpack("!H", payload[:2])[0]
            messages.append(json.loads(payload))

    def _frame(self) -> tuple[int, bytes]:
        header = self._read(2)
        length = header[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return header[0] & 0x0F, self._read(length)

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._sock.recv(1 << 20)
            assert chunk, "the server closed the stuck client"
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def close(self) -> None:
        self._sock.close()
