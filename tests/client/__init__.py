"""The Python client and the `vigil` command against a real gateway (the tests that watch
real containers are marked `docker`)."""
