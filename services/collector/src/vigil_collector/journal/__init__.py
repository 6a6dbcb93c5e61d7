"""The host's systemd journal, on lease like container and pod logs: `followers` (a
follower per leased selection, a unit and a priority), `reader` (journalctl's JSON
read in a worker thread) and `copies` (an entry two selections took, marked as such
after it first went out)."""
