"""Who is asking and what they may do: credentials, principals, grants and limits.

- `credentials`  where a client's credentials are, on a handshake or an HTTP request
- `identity`     credentials to a principal (and the token for its ctl requests)
- `revocations`  revoked sessions, users and API keys, as every replica knows them
- `permissions`  role checks for routes, role and grant checks for channels
- `ratelimit`    how many requests a client may send
- `redaction`    credentials kept out of the logs
"""
