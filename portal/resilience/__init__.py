"""What keeps one failure or one client from hurting the rest: breakers, rate limits, cache
failover, slow clients, fault injection."""
