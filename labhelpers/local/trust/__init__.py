"""The trust boundary: who may make the endpoint do anything (signed AWS calls, git with credentials, no
foreign Host or Origin)."""
