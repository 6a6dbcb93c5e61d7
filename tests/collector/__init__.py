"""The collector without Docker: host metrics through a gateway, a remote collector over TLS."""
