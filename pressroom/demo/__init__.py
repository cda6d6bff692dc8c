"""``pressroom demo``: a whole site on embedded defaults, and the corpus it is built from."""

from pressroom.demo.corpus import demo_articles, demo_sections, demo_subscribers, load_demo
from pressroom.demo.run import run_demo

__all__ = ["demo_articles", "demo_sections", "demo_subscribers", "load_demo", "run_demo"]
