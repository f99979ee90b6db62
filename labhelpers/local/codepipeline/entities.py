"""GetPipelineState's entityUrl: the page of what an action works on. Locally the lab's own pages (a
CodeCommit source's branch, a CodeBuild project, a CodeDeploy deployment group); a custom action's is its
type's entityUrlTemplate, a page of the account's own system, as on AWS. Other actions have none locally."""

from labhelpers import actiontypes

from ..labpages.links import PageLinks
from .customtypes import CustomActionTypes

# (category, owner, provider) -> the local page of the action's configuration
LOCAL_PAGES = {
    ("Source", "AWS", "CodeCommit"): lambda pages, c: pages.branch(c["RepositoryName"], c["BranchName"]),
    ("Build", "AWS", "CodeBuild"): lambda pages, c: pages.project(c["ProjectName"]),
    ("Test", "AWS", "CodeBuild"): lambda pages, c: pages.project(c["ProjectName"]),
    ("Deploy", "AWS", "CodeDeploy"): lambda pages, c: pages.deployment_group(
        c["ApplicationName"], c["DeploymentGroupName"]
    ),
}


class EntityLinks:
    def __init__(self, pages: PageLinks, custom_types: CustomActionTypes):
        self.pages = pages
        self.custom_types = custom_types

    def url(self, action: dict, region: str) -> str | None:
        """The entityUrl of a declared action in `region`, or None."""
        type_id, configuration = action["actionTypeId"], action.get("configuration", {})
        if type_id["owner"] == "Custom":
            found = self.custom_types.find(
                region, type_id["category"], type_id["provider"], type_id["version"]
            )
            template = found and found.settings.get("entityUrlTemplate")
            return actiontypes.render_url(template, configuration) if template else None
        page = LOCAL_PAGES.get((type_id["category"], type_id["owner"], type_id["provider"]))
        return page(self.pages, configuration) if page else None
