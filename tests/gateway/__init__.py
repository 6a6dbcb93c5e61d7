"""The gateway: admission, delivery, resume, limits, staleness, its HTTP routes, on a real
nats-server (a few tests also need Docker or Chromium and are marked so)."""
