"""The bus: connecting, publishing, the request/reply helpers, health probes, NATS outages,
hangs and node switches, on real nats-servers (the hang test also needs Docker)."""
