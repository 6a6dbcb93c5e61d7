"""What the Docker and the pod log followers share: `leases` (who holds a lease on which
container's logs, and until when), `batches` (lines to the LOGS stream in batches, in
order, once, and a container's `Position` for the next follower), `redaction` (secrets
taken out of lines) and `lines` (a line's time stamp, parsed; the marker of a cut line)."""
