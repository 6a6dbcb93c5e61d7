"""The auth service: users, API keys, tokens, signing keys and its process, on a real
nats-server."""
