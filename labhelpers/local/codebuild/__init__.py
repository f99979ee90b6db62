"""CodeBuild: builds are ours (the buildspec really runs: phases, logs, artifacts); projects are checked by us
and kept by moto."""
