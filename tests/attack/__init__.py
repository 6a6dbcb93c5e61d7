"""Attacks on every input a client controls (bodies, handshakes, wire frames, polls, hostile
patterns, anonymous bus clients), against a real gateway on a real nats-server."""
