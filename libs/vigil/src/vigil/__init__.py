"""Vigil's shared library: the wire contract every service speaks.

- `vigil.subjects`  every NATS subject, built from one prefix
- `vigil.names`     the validator for names that come from outside
- `vigil.patterns`  users' globs and regular expressions, run on RE2 (linear time)
- `vigil.streams`   the JetStream streams the services need
- `vigil.messages`  every bus message and client-protocol message
- `vigil.channels`  the channels a client can subscribe to
- `vigil.settings`  the settings base every service extends
- `vigil.bus`       connecting to NATS and preparing JetStream
"""
