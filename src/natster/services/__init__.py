"""Services on NATS: the global service, the catalog service and the sending side of transfers."""
