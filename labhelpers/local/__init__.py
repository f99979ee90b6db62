"""The local AWS endpoint: a separate process that speaks the AWS API on 127.0.0.1."""
