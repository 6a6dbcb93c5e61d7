"""The host's allow-listed log files (for a host without a journal), on lease like
container and pod logs: `followers` (a follower per leased file), `reader` (a file's
lines read in a worker thread), `tail` (a file followed across its rotations) and
`timestamps` (a syslog line's own time)."""
