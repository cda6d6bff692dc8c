"""Subscriber rules and consent, in one place for the web app, the CLI and CSV import.

``addresses`` (normalising an address), ``lifecycle`` (the state machine: subscribe,
confirm, unsubscribe, preferences), ``confirm_mail`` (the double opt-in message) and
``roster`` (add, remove, list, CSV import and export).
"""
