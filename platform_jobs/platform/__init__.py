"""The domain the jobs act on: tenants, keys, webhooks, backups, storage, usage, notifications."""
