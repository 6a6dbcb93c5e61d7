"""What a client may ask the gateway to match, and how much of it.

- `logs`      `grep`, `regex` and `level` filters of log channels, applied at the gateway
- `patterns`  client patterns compiled for RE2: linear time, bounded memory
- `quota`     how many filtered log views one principal may hold at once
"""
