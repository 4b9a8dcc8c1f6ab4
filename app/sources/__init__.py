"""Port and container sources: Docker, swarm, compose files, host listeners, registry."""
