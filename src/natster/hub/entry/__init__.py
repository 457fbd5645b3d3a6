"""The ways in: invites (long and short), the doorstep that redeems short ones, and
sign-in pages' guests."""
