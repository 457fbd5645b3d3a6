"""A hub of several nodes: what a node holds, joining one, growing from one node,
stream snapshots."""
