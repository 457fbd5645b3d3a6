"""nats-server itself: finding the binary, its config, start and stop, and how it is."""
