"""Accounts: the account service, the JWTs natster issues, the resolver, serving accounts."""
