"""The queue core: ledger, queue API, task base, signal mirror, maintenance. Independent of Flask."""
