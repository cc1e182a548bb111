"""The chain outbox: every transaction stored, signed and sent by one leased worker; the event indexer."""
