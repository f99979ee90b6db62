"""Errors raised by labhelpers itself. AWS errors pass through as botocore ClientError."""


class LabError(Exception):
    """Something the lab can explain; the message always says what to do next."""


class EndpointError(LabError):
    """The local endpoint could not be started, reached or stopped."""


class AccountLimitError(LabError):
    """The AWS account refuses what the lab needs: a quota too low, a service closed to new customers."""


class DeclarationError(LabError):
    """A pipeline declaration is not valid; `problems` lists every finding."""

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)
