"""What the Docker and the pod log followers share: `followers` (a follower per leased
container: leases, a reader and its publisher started and stopped, positions kept),
`reader` (a log stream read in a worker thread), `leases` (who holds a lease on which
container's logs, and until when), `batches` (lines to the LOGS stream in batches, in
order, once, and a container's `Position` for the next follower), `redaction` (secrets
taken out of lines), `lines` (a line's time stamp, parsed; the marker of a cut line) and
`retention` (which sources are kept: the keep label; a kept batch's compact lines)."""
