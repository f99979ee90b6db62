"""CodeDeploy applications and deployment groups, which moto keeps (creating and listing them): looking them
up, reading them as AWS shows them (GetApplication, BatchGetApplications, GetDeploymentGroup,
BatchGetDeploymentGroups; views) and the operations moto lacks (DeleteApplication, DeleteDeploymentGroup,
UpdateApplication, UpdateDeploymentGroup). A rename reaches the application's revisions and the deployments
that name it.

The service looks applications and groups up through the API (`_application`, `_group`), as the pipeline
engine's in-process calls must; the read operations themselves answer from moto's store (`_stored_*`).
"""

from botocore.exceptions import ClientError

from .. import motoapi
from ..awsjson import AwsError
from ..dispatch import request_region
from .params import application_name, batch_limit
from .rollback import check_rollback_configuration
from .views import application_view, group_view

MAX_BATCH_APPLICATIONS = 100
MAX_BATCH_GROUPS = 100


class ApplicationOperations:
    """The application and deployment-group operations of CodeDeployService, which mixes them in: they use
    its `ctx`, `revisions`, `_on_write`, `_minimum_healthy_hosts` (configs) and its deployment records
    (`_records` under `_cond`, `_files`)."""

    def delete_application(self, params):
        name = params.get("applicationName")
        if not name:
            raise AwsError(
                "ApplicationNameRequiredException",
                "The minimum number of required application names was not specified.",
            )
        motoapi.delete_codedeploy_application(self.ctx.account, request_region(), name)
        self.revisions.forget(request_region(), name)
        self._on_write("codedeploy")
        return {}

    def delete_deployment_group(self, params):
        application, group = params.get("applicationName"), params.get("deploymentGroupName")
        if not application or not group:
            raise AwsError(
                "DeploymentGroupNameRequiredException", "The deployment group name was not specified."
            )
        if not motoapi.delete_codedeploy_group(self.ctx.account, request_region(), application, group):
            raise AwsError(
                "ApplicationDoesNotExistException", f"No application found for name: {application}"
            )
        self._on_write("codedeploy")
        return {"hooksNotCleanedUp": []}

    def update_application(self, params):
        name = application_name(params.get("applicationName"))
        new_name = params.get("newApplicationName") or name
        region = request_region()
        motoapi.rename_codedeploy_application(self.ctx.account, region, name, new_name)
        if new_name != name:
            self.revisions.rename(region, name, new_name)
            self._rename_records(region, {"applicationName": name}, {"applicationName": new_name})
        self._on_write("codedeploy")
        return {}

    def update_deployment_group(self, params):
        application = application_name(params.get("applicationName"))
        group = params.get("currentDeploymentGroupName")
        if not group:
            raise AwsError("DeploymentGroupNameRequiredException", "currentDeploymentGroupName is required.")
        region = request_region()
        if params.get("deploymentConfigName") is not None:
            self._minimum_healthy_hosts(params["deploymentConfigName"], region)
        check_rollback_configuration(params.get("autoRollbackConfiguration"))
        motoapi.update_codedeploy_group(self.ctx.account, region, application, group, params)
        new_name = params.get("newDeploymentGroupName") or group
        if new_name != group:
            self._rename_records(
                region,
                {"applicationName": application, "deploymentGroupName": group},
                {"deploymentGroupName": new_name},
            )
        self._on_write("codedeploy")
        return {"hooksNotCleanedUp": []}

    def get_application(self, params):
        name = application_name(params.get("applicationName"))
        return {"application": application_view(self._stored_application(name, request_region()))}

    def batch_get_applications(self, params):
        names = params.get("applicationNames")
        if not names:
            raise AwsError("ApplicationNameRequiredException", "applicationNames needs at least one name.")
        if len(names) > MAX_BATCH_APPLICATIONS:
            raise batch_limit(MAX_BATCH_APPLICATIONS)
        region = request_region()
        return {
            "applicationsInfo": [application_view(self._stored_application(name, region)) for name in names]
        }

    def get_deployment_group(self, params):
        application = application_name(params.get("applicationName"))
        group = params.get("deploymentGroupName")
        if not group:
            raise AwsError("DeploymentGroupNameRequiredException", "deploymentGroupName is required.")
        region = request_region()
        return {
            "deploymentGroupInfo": self._group_view(self._stored_group(application, group, region), region)
        }

    def batch_get_deployment_groups(self, params):
        application = application_name(params.get("applicationName"))
        names = params.get("deploymentGroupNames")
        if not names:
            raise AwsError(
                "DeploymentGroupNameRequiredException", "deploymentGroupNames needs at least one name."
            )
        if len(names) > MAX_BATCH_GROUPS:
            raise batch_limit(MAX_BATCH_GROUPS)
        region = request_region()
        self._stored_application(application, region)
        found, missing = [], []
        for name in names:
            try:
                found.append(self._group_view(self._stored_group(application, name, region), region))
            except AwsError as error:
                if error.code != "DeploymentGroupDoesNotExistException":
                    raise
                missing.append(name)
        errors = f"Deployment groups not found in application {application}: {', '.join(missing)}"
        return {"deploymentGroupsInfo": found, "errorMessage": errors if missing else ""}

    def _rename_records(self, region: str, match: dict, changes: dict) -> None:
        """Rename the application or group in the deployments that name it."""
        with self._cond:
            for record in self._records.values():
                info = record["info"]
                if record["region"] == region and all(info[key] == value for key, value in match.items()):
                    info.update(changes)
                    self._files.save_deployment(record)

    def _application(self, application: str, region: str) -> dict:
        """The application, read through the API (ApplicationDoesNotExistException if it does not exist)."""
        try:
            return self.ctx.client("codedeploy", region).get_application(applicationName=application)[
                "application"
            ]
        except ClientError as exc:
            raise _aws_error(exc) from None

    def _group(self, application: str, group: str, region: str) -> dict:
        """The deployment group, read through the API (ApplicationDoesNotExist and the like if not)."""
        try:
            answer = self.ctx.client("codedeploy", region).get_deployment_group(
                applicationName=application, deploymentGroupName=group
            )
        except ClientError as exc:
            raise _aws_error(exc) from None
        return answer["deploymentGroupInfo"]

    def _stored_application(self, application: str, region: str) -> dict:
        """The application as moto keeps it (ApplicationDoesNotExistException if it does not)."""
        found = motoapi.codedeploy_application(self.ctx.account, region, application)
        if found is None:
            raise AwsError(
                "ApplicationDoesNotExistException",
                f"The application {application} does not exist with the user or AWS account.",
            )
        return found

    def _stored_group(self, application: str, group: str, region: str) -> dict:
        """The deployment group as moto keeps it (ApplicationDoesNotExist or DeploymentGroupDoesNotExist)."""
        self._stored_application(application, region)
        found = motoapi.codedeploy_group(self.ctx.account, region, application, group)
        if found is None:
            raise AwsError(
                "DeploymentGroupDoesNotExistException",
                f"The deployment group {group} does not exist with the user or AWS account.",
            )
        return found

    def _group_view(self, group: dict, region: str) -> dict:
        """The group as GetDeploymentGroup shows it, with its deployments."""
        with self._cond:
            deployments = [
                record["info"]
                for record in self._records.values()
                if record["region"] == region
                and (record["info"]["applicationName"], record["info"]["deploymentGroupName"])
                == (group["applicationName"], group["deploymentGroupName"])
            ]
            return group_view(group, deployments)


def _aws_error(exc: ClientError) -> AwsError:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    return AwsError(error.get("Code", "InternalFailure"), error.get("Message", str(exc)), status)
