"""pressroom: publish a news site's articles as feeds and e-mail digests."""

__version__ = "0.1.0"
__all__ = ["__version__"]
