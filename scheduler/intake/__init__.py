"""Webhook intake: payload models, the event table, screens and handlers, processing."""
