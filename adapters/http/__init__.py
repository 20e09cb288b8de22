"""HTTP plumbing shared by every provider: client, URL guard, scoped auth, verified transfers."""
