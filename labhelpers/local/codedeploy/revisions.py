"""CodeDeploy application revisions: RegisterApplicationRevision, GetApplicationRevision,
BatchGetApplicationRevisions and ListApplicationRevisions.

The revisions an application has registered (or its deployments have registered for it) are kept in
`store.ApplicationRevisions`; a revision's deploymentGroups are worked out from the service's deployments.
"""

from ..awsjson import AwsError
from ..dispatch import request_region
from .params import application_name, batch_limit, s3_revision
from .store import revision_key

MAX_BATCH_REVISIONS = 25
REVISION_SORT_KEYS = ("registerTime", "firstUsedTime", "lastUsedTime")
SORT_ORDERS = ("ascending", "descending")
DEPLOYED_FILTERS = ("include", "exclude", "ignore")


class RevisionOperations:
    """The application-revision operations of CodeDeployService, which mixes them in: they use its
    `revisions`, its deployment records (`_records` under `_cond`), `_application` and `_page`."""

    def register_application_revision(self, params):
        application = application_name(params.get("applicationName"))
        region = request_region()
        revision = s3_revision(params.get("revision"))
        self._application(application, region)
        self.revisions.register(region, application, revision, params.get("description"))
        return {}

    def get_application_revision(self, params):
        application = application_name(params.get("applicationName"))
        revision = s3_revision(params.get("revision"))
        region = request_region()
        self._application(application, region)
        found = self._revision_infos(region, application).get(revision_key(revision))
        if found is None:
            raise AwsError(
                "RevisionDoesNotExistException",
                f"No revision {revision['s3Location']} is registered with application {application}.",
            )
        return {
            "applicationName": application,
            "revision": found["revisionLocation"],
            "revisionInfo": found["genericRevisionInfo"],
        }

    def batch_get_application_revisions(self, params):
        application = application_name(params.get("applicationName"))
        wanted = params.get("revisions")
        if not wanted:
            raise AwsError("RevisionRequiredException", "revisions needs at least one revision.")
        if len(wanted) > MAX_BATCH_REVISIONS:
            raise batch_limit(MAX_BATCH_REVISIONS)
        locations = [s3_revision(revision) for revision in wanted]
        region = request_region()
        self._application(application, region)
        infos = self._revision_infos(region, application)
        missing = [r["s3Location"] for r in locations if revision_key(r) not in infos]
        errors = f"Revisions not registered with application {application}: " + ", ".join(
            f"s3://{m['bucket']}/{m['key']}" for m in missing
        )
        return {
            "applicationName": application,
            "revisions": [infos[revision_key(r)] for r in locations if revision_key(r) in infos],
            "errorMessage": errors if missing else "",
        }

    def list_application_revisions(self, params):
        application = application_name(params.get("applicationName"))
        sort_by = params.get("sortBy") or "registerTime"
        if sort_by not in REVISION_SORT_KEYS:
            raise AwsError(
                "InvalidSortByException", f"sortBy must be one of {', '.join(REVISION_SORT_KEYS)}."
            )
        order = params.get("sortOrder") or "ascending"
        if order not in SORT_ORDERS:
            raise AwsError("InvalidSortOrderException", f"sortOrder must be one of {', '.join(SORT_ORDERS)}.")
        deployed = params.get("deployed") or "ignore"
        if deployed not in DEPLOYED_FILTERS:
            raise AwsError(
                "InvalidDeployedStateFilterException",
                f"deployed must be one of {', '.join(DEPLOYED_FILTERS)}.",
            )
        bucket, prefix = params.get("s3Bucket"), params.get("s3KeyPrefix")
        if prefix and not bucket:
            raise AwsError("BucketNameFilterRequiredException", "s3KeyPrefix needs s3Bucket too.")
        region = request_region()
        self._application(application, region)

        def wanted(revision: dict) -> bool:
            location = revision["revisionLocation"]["s3Location"]
            is_target = bool(revision["genericRevisionInfo"]["deploymentGroups"])
            return (
                (not bucket or location["bucket"] == bucket)
                and location["key"].startswith(prefix or "")
                and deployed in ("ignore", "include" if is_target else "exclude")
            )

        infos = self._revision_infos(region, application)
        keys = sorted(
            (key for key, revision in infos.items() if wanted(revision)),
            key=lambda key: (infos[key]["genericRevisionInfo"].get(sort_by) or 0, key),
            reverse=order == "descending",
        )
        answer = self._page("revisions", keys, params)
        answer["revisions"] = [infos[key]["revisionLocation"] for key in answer["revisions"]]
        return answer

    def _revision_infos(self, region: str, application: str) -> dict[str, dict]:
        """The application's RevisionInfos by revision_key; deploymentGroups are the groups whose latest
        deployment deploys the revision (their target revision)."""
        revisions = self.revisions.all(region, application)
        with self._cond:
            latest: dict[str, dict] = {}
            for record in self._records.values():
                info = record["info"]
                if (record["region"], info["applicationName"]) != (region, application):
                    continue
                group = info["deploymentGroupName"]
                if group not in latest or info["createTime"] > latest[group]["createTime"]:
                    latest[group] = info
        for key, revision in revisions.items():
            revision["genericRevisionInfo"]["deploymentGroups"] = sorted(
                group for group, info in latest.items() if revision_key(info["revision"]) == key
            )
        return revisions
