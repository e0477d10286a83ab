"""Fleet scale: many hosts, a transaction pooler, Redis failover, a big ledger (issue 21)."""
