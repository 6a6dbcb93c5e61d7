"""Whether a TCP port is free to listen on."""

import socket


def port_in_use(host: str, port: int) -> bool:
    """True if something already listens on `host:port` (or we may not bind it).

    SO_REUSEADDR, as the servers we start set it, so that connections of a previous run
    lingering in TIME_WAIT do not count as in use.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
