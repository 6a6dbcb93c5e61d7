"""One HTTP/1.1 request sent exactly as written: no client library normalises its target
(dot segments, percent-encodings), as an attacker's would not."""

import socket


def raw_request(
    port: int, method: str, target: str, body: bytes = b"", host: str = "127.0.0.1"
) -> tuple[int, bytes]:
    """The status and the body (as sent: chunked framing kept) of one request."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(head.encode() + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]
