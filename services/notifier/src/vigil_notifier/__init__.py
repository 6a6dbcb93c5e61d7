"""Vigil notifier: delivers each alert transition to the channels (Apprise URLs and
signed webhooks) that admins configure, at least once and once only."""
