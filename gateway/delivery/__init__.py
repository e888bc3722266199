"""Getting outbound messages to subscribers: signed webhooks with retries, and the pull feed."""
