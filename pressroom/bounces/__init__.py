"""Inbound mail about outbound mail: bounces, complaints, mailto unsubscribes, auto-replies.

``process.process_bounces()`` reads the mailbox ``[bounces] source`` names
(``mailbox.py``: Maildir; ``imap.py``: IMAP over TLS), classifies each message
(``parse.py``: ARF, DSN, the mailto address, auto-replies, flufl.bounce's detectors,
the signed VERP token of :mod:`pressroom.delivery.verp`), records and applies it
(``apply.py``, through :func:`pressroom.subscribers.lifecycle.suppress`) and moves it to
``processed`` or ``failed``. ``listing.py`` reads the record back for ``bounces list``.
"""
