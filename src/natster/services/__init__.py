"""Services on NATS: the global service (and, later, the catalog service and transfers)."""
