"""Outbound senders: one module per channel, each the twin of that channel's connector."""
