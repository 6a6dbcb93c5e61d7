"""The compose stack (`docker compose up`): single node, NATS cluster, switching between them;
needs Docker and its compose plugin."""
