"""natster: secure peer-to-multipeer media sharing built on nothing but NATS."""

__version__ = "0.2.0"
