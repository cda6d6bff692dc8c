"""What a digest is: its period and window, the articles chosen, the mail each subscriber gets.

``plan`` (period, window, schedule), ``select`` (articles and per-subscriber cuts),
``render`` (HTML and text), ``compose`` and ``links`` (one message per recipient),
``service`` (the run: real send, dry run, test copy) and ``preview``. Moving the
messages to a relay is :mod:`pressroom.delivery`'s job.
"""
