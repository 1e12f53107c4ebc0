"""Mail intake: the SMTP listener, the IMAP pollers, the mail parse pool and the blob store."""
