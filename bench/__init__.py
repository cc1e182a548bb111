"""Benchmarks: gas, domain operations, end-to-end issuance and verification, set-up time (`make bench`)."""
