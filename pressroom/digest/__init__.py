"""What a digest is: its period and window, the articles chosen, the mail each subscriber gets.

``config`` (the digest's part of the settings), ``plan`` (period, window, schedule),
``select`` (articles and per-subscriber cuts), ``render`` (HTML and text), ``compose``
and ``links`` (one message per recipient), ``request`` (what every call starts from),
``service`` (the real send and the dry run), ``preview`` (previews and test copies) and
``report``. Moving the messages to a relay is :mod:`pressroom.delivery`'s job.
"""
