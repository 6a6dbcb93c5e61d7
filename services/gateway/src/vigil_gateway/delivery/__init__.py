"""How a channel's messages reach its subscribers: one shared feed per channel, and the
ways a subscriber joins it, keeps its own pace or reads without a session.

- `hub`          one feed per channel on this replica, started and stopped by its clients
- `channel_admission`  what a client names made the channel to join, or refused with
  its code: one way for every transport
- `feed`         a channel's JetStream feed, shared by every client of it
- `catchup`      a resuming socket's way to the live end, read by short-lived consumers
  paced by the socket, then onto the shared feed
- `resume`       where a cursor goes on, and whether it is past the stream's window
- `views`        how bus messages become client frames, per channel
- `deltas`       numbered state values, and the snapshot and delta frames made of them
- `throttle`     a subscriber's own pace on state channels
- `staleness`    the newest value of a stopped source marked stale; `source_status`
  where the collectors say a source stopped
- `polling`      a channel read straight from JetStream (HTTP polling); `poll_slots`
  polls in progress per principal
- `options`      what a subscriber asks beside the channel: resume, pace, deltas
- `keyed_locks`  one lock per channel while the hub starts or stops its feed
"""
