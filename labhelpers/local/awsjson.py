"""The awsJson1_1 wire protocol as our own services speak it: errors and timestamps."""

import time


class AwsError(Exception):
    """An AWS-style error: answered as HTTP `status` with {"__type": code, "message": message}."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict:
        return {"__type": self.code, "message": self.message}


def now() -> float:
    """Epoch seconds with fractions, as the JSON protocol sends timestamps."""
    return round(time.time(), 3)


def request_body(environ) -> bytes:
    """The body: to its end when the server de-chunked it, else CONTENT_LENGTH bytes (reading on would wait
    for more from the client)."""
    if environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"].read()
    return environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
