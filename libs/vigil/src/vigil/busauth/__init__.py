"""Locks on the bus: who may connect to NATS, and what each may do there.

- `permissions`  what each service role may publish and subscribe, from the wire contract
- `nats_jwt`     NATS's nkeys and JWTs, and `.creds` files
- `trust`        the operator and account keys, the server's config, each service's creds
"""
