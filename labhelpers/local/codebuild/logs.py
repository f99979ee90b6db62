"""A build's log in CloudWatch Logs: its lines, buffered and sent in PutLogEvents batches."""

import logging
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("labhelpers.endpoint")

LOG_FLUSH_SECONDS = 2.0
LOG_BATCH_LINES = 1000
LOG_EVENT_CHARS = 256 * 1024 - 26
LOG_BATCH_BYTES = 1_000_000


class LogStream:
    """The build's log stream: lines are buffered and sent in batches (each phase change flushes).

    Writing the log never fails the build: a failure to write is noted in the endpoint's log."""

    def __init__(self, client, group: str | None, stream: str | None):
        self._client = client
        self.group, self.stream = group, stream
        self._pending: list[dict] = []
        self._masked: list[str] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._last_timestamp = 0

    def open(self) -> None:
        if self.group is None:
            return
        try:
            try:
                self._client.create_log_group(logGroupName=self.group)
            except self._client.exceptions.ResourceAlreadyExistsException:
                pass
            self._client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except (BotoCoreError, ClientError) as exc:
            log.warning("no CloudWatch Logs for this build: %s %s: %s", self.group, self.stream, exc)
            self.group = None

    def mask(self, secrets) -> None:
        """Show these values as *** in the log."""
        self._masked = sorted({value for value in secrets if value}, key=len, reverse=True)

    def write(self, line: str) -> None:
        if self.group is None:
            return
        for secret in self._masked:
            line = line.replace(secret, "***")
        with self._lock:
            self._last_timestamp = max(self._last_timestamp, int(time.time() * 1000))
            message = line[:LOG_EVENT_CHARS] + "\n"  # CodeBuild's events end with the newline
            self._pending.append({"timestamp": self._last_timestamp, "message": message})
            if (
                len(self._pending) >= LOG_BATCH_LINES
                or time.monotonic() - self._last_flush >= LOG_FLUSH_SECONDS
            ):
                self._send()

    def flush(self) -> None:
        if self.group is not None:
            with self._lock:
                self._send()

    def _send(self) -> None:
        events, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        for batch in _batches(events):
            try:
                self._client.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=batch
                )
            except (BotoCoreError, ClientError) as exc:
                log.warning("lost %d log lines of %s %s: %s", len(batch), self.group, self.stream, exc)


def _batches(events: list[dict]) -> list[list[dict]]:
    """PutLogEvents-sized batches: at most 10,000 events and about 1 MB each."""
    batches, current, size = [], [], 0
    for event in events:
        event_size = len(event["message"].encode()) + 26
        if current and (len(current) == 10_000 or size + event_size > LOG_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(event)
        size += event_size
    return [*batches, current] if current else batches
