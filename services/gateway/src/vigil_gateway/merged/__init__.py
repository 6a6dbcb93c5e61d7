"""Merged log views (`logs.merged`): the lines of every container and pod a selector
picks, in one time order.

- `view`     the merged view's shared feed, its clients and the sources it follows
- `sources`  the sources a merged view reads: a Docker container or a pod
- `reorder`  several sources' lines in one time order, with a bounded wait
- `polling`  a merged view polled over HTTP, read straight from JetStream
"""
