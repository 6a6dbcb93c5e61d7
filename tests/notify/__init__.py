"""The notifier: alert transitions to a real webhook receiver and a real SMTP server
(aiosmtpd, through Apprise), retried, deduplicated, dead-lettered; channel management
through the gateway, admins only; on a real nats-server, the notifier as a task or a
process (killed with SIGKILL)."""
