"""CodeCommit: ours entirely: bare git repositories on disk, git over HTTP, and the API over them."""
