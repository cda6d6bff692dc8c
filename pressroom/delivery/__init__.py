"""Moving messages to a relay: the message value, MIME encoding, transports, the ledger sender.

``outgoing`` (the message value), ``mime`` (RFC 2047/5322 encoding), ``transport`` (file
and SMTP) with ``smtp_wire`` (protocol helpers below aiosmtplib), ``send`` (the
ledger-driven sender) with ``group_commit``, ``signing`` (DKIM) and ``single`` (one
message, e.g. a confirmation). Nothing here knows what a digest is: it takes messages
and ledger rows.
"""
