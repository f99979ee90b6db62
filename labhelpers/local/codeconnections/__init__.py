"""CodeConnections and CodeStar Connections: ours: local connections (their git source is the engine's)."""
