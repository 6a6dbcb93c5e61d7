"""The host's systemd journal, on lease like container and pod logs: `followers` (a
follower per leased selection, a unit and a priority) and `reader` (journalctl's JSON
read in a worker thread)."""
