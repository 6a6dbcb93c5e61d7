"""Unit tests: no subprocess, no network, no server; pure code over values and tmp files."""
