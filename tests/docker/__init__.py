"""Docker: the collector's engine readers and stats, container logs, history and the socket
proxy, through the gateway; needs a real Docker engine."""
