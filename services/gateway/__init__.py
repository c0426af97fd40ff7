"""The gateway: the authenticated HTTP API and web console in front of the dispatch read model."""
