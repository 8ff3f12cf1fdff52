"""pytest plugin registered by funcpipe-testing (fixtures are added here)."""
