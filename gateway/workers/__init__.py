"""Background workers: the triage worker, the SLA work loop, notifications, the classifier watcher."""
