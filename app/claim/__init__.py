"""Claimant pages: verify a bill, mark it reimbursed once, list the bills this organisation reimbursed."""
