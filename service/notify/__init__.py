"""Notifications: the outbox, its sender (webhooks, e-mails), and the links in e-mails."""
