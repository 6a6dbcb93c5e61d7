"""The whole stack as processes on this machine: `vigil up` and `make up`, gateways on a
loopback NATS cluster."""
