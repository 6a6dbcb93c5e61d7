"""The web dashboard in Debian's Chromium (Playwright) against the real stack; needs `make web`."""
