"""The bundled demo: the corpus (``corpus``) and ``pressroom demo`` (``run``)."""
