"""Provider adapters: one module per provider API."""
