"""CodeBuild's listings of what other accounts share with this one (through AWS RAM): ListSharedProjects and
ListSharedReportGroups. The local endpoint plays one account and nothing shares with it, so both answer an
empty page, once their parameters are checked as AWS checks them."""

from ..dispatch import JsonService
from .projects import check_enum
from .reports import descending, page_of


class SharingService(JsonService):
    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def list_shared_projects(self, params):
        return _nothing_shared(params, "projects")

    def list_shared_report_groups(self, params):
        return _nothing_shared(params, "reportGroups")


def _nothing_shared(params: dict, key: str) -> dict:
    check_enum(params.get("sortBy") or "MODIFIED_TIME", "sortBy", "SharedResourceSortByType")
    descending(params)
    page, token = page_of([], params)
    return {key: page, **token}
