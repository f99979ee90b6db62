"""Repository triggers (PutRepositoryTriggers, GetRepositoryTriggers, TestRepositoryTriggers): checked as
AWS checks them and kept in the repository's metadata. The local endpoint does not deliver them to SNS or
Lambda, so TestRepositoryTriggers reports each as a failed execution saying so."""

import re
import uuid

from ..awsjson import AwsError
from .params import branch_name
from .store import check_name

MAX_TRIGGERS = 10
MAX_BRANCHES = 10
EVENTS = ("all", "updateReference", "createReference", "deleteReference")
_DESTINATION = re.compile(r"arn:aws:(sns|lambda):([a-z0-9-]+):\d{12}:\S+")
NOT_DELIVERED = "The local lab endpoint keeps repository triggers but does not deliver them to SNS or Lambda."


class RepositoryTriggers:
    """Operations of CodeCommitService (a mixin: it needs `store`)."""

    def put_repository_triggers(self, params):
        name = check_name(params.get("repositoryName"))
        triggers = self._checked_triggers(params)
        configuration = str(uuid.uuid4())
        self.store.update(name, triggers=triggers, triggersConfigurationId=configuration)
        return {"configurationId": configuration}

    def get_repository_triggers(self, params):
        metadata = self.store.get(check_name(params.get("repositoryName")))
        return {
            "configurationId": metadata.get("triggersConfigurationId", ""),
            "triggers": metadata.get("triggers", []),
        }

    def test_repository_triggers(self, params):
        name = check_name(params.get("repositoryName"))
        self.store.get(name)
        failed = [
            {"trigger": t["name"], "failureMessage": NOT_DELIVERED} for t in self._checked_triggers(params)
        ]
        return {"successfulExecutions": [], "failedExecutions": failed}

    def _checked_triggers(self, params) -> list[dict]:
        triggers = params.get("triggers")
        if triggers is None:
            raise AwsError("RepositoryTriggersListRequiredException", "triggers is required.")
        if len(triggers) > MAX_TRIGGERS:
            raise AwsError(
                "MaximumRepositoryTriggersExceededException",
                f"triggers: at most {MAX_TRIGGERS} per repository.",
            )
        names = [trigger.get("name") for trigger in triggers]
        if len(set(names)) < len(names):
            raise AwsError("InvalidRepositoryTriggerNameException", "triggers: each name must be unique.")
        return [self._checked_trigger(trigger) for trigger in triggers]

    def _checked_trigger(self, trigger: dict) -> dict:
        name = trigger.get("name")
        if not name:
            raise AwsError("RepositoryTriggerNameRequiredException", "triggers: each trigger needs a name.")
        if len(name) > 100:
            raise AwsError(
                "InvalidRepositoryTriggerNameException", f"trigger name {name!r}: at most 100 characters."
            )
        arn = trigger.get("destinationArn")
        if not arn:
            raise AwsError(
                "RepositoryTriggerDestinationArnRequiredException",
                f"trigger {name}: destinationArn is required.",
            )
        found = _DESTINATION.fullmatch(arn)
        if not found:
            raise AwsError(
                "InvalidRepositoryTriggerDestinationArnException",
                f"trigger {name}: destinationArn {arn!r} is not an SNS topic or Lambda function ARN.",
            )
        if found.group(2) != self.store.region:
            raise AwsError(
                "InvalidRepositoryTriggerRegionException",
                f"trigger {name}: destinationArn must be in the repository's Region, {self.store.region}.",
            )
        if len(trigger.get("customData") or "") > 1000:
            raise AwsError(
                "InvalidRepositoryTriggerCustomDataException",
                f"trigger {name}: customData has at most 1000 characters.",
            )
        events = trigger.get("events")
        if not events:
            raise AwsError(
                "RepositoryTriggerEventsListRequiredException", f"trigger {name}: events is required."
            )
        if any(event not in EVENTS for event in events) or ("all" in events and len(events) > 1):
            raise AwsError(
                "InvalidRepositoryTriggerEventsException",
                f"trigger {name}: events are among {', '.join(EVENTS)}, and 'all' goes alone.",
            )
        branches = trigger.get("branches") or []
        if len(branches) > MAX_BRANCHES:
            raise AwsError(
                "MaximumBranchesExceededException", f"trigger {name}: at most {MAX_BRANCHES} branches."
            )
        for branch in branches:
            try:
                branch_name({"branchName": branch})
            except AwsError:
                raise AwsError(
                    "InvalidRepositoryTriggerBranchNameException",
                    f"trigger {name}: {branch!r} is not a branch name.",
                ) from None
        return {
            "name": name,
            "destinationArn": arn,
            "customData": trigger.get("customData", ""),
            "branches": branches,
            "events": events,
        }
