"""The bundled demo: the corpus (``corpus``), its config (``site_config``) and
``pressroom demo`` (``run``)."""
