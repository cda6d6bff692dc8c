"""Subscriber rules and consent: the only package that changes a subscriber's status.

``lifecycle`` (the state machine, its rules one table: subscribe, confirm, unsubscribe,
bounces, complaints, operator changes, preferences), ``bulk_import`` (the operator's rule
applied to a batch of rows), ``addresses`` (normalising an address), ``confirm_mail``
(the double opt-in message), ``roster`` (add, remove, list, CSV import and export) and
``history`` (what ``subscribers show`` prints).
"""
