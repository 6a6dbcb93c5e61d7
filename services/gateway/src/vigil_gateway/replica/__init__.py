"""One gateway replica: what every connection of it shares, and its own doings.

- `gateway`     the composition root: the bus, the hub, the directories, the leases,
  identity, revocations and limits, started, stopped and told of the bus
- `sessions`    its sockets: admitted, given their connection, listed, replaced, drained
- `questions`   questions for clients (`ctl ask`), relayed to a socket and answered
- `sampling`    its samples of itself (sockets, failed sends), for gateway alert rules
"""
