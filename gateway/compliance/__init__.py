"""Keeping the score: timelines, deadlines (the watcher), waiting days and compliance reports
(docs/COMPLIANCE.md). Everything here is derived from stored events, messages and receipts."""
