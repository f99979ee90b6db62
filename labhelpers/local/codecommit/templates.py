"""Approval rule templates: CreateApprovalRuleTemplate, GetApprovalRuleTemplate, ListApprovalRuleTemplates,
DeleteApprovalRuleTemplate, UpdateApprovalRuleTemplateContent, -Description and -Name, their associations with
repositories ((Batch)AssociateApprovalRuleTemplateWithRepository/-ies, (Batch)Disassociate...,
ListAssociatedApprovalRuleTemplatesForRepository, ListRepositoriesForApprovalRuleTemplate), and the rules they
give new pull requests.

As on AWS, a pull request created in a repository gets one approval rule per template associated with it
whose DestinationReferences name the pull request's destination (or that names none): the template's name
and content, with originApprovalRuleTemplate. Changing or removing a template later leaves the rules of
existing pull requests as they are; a template still associated with a repository cannot be deleted."""

import json
import uuid

from ..awsjson import AwsError, now
from ..paging import with_token
from .approvals import applies_to, content_sha256, new_rule, rule_content
from .params import offset_page, optional_string, repository_names, required
from .pulls import max_results
from .store import check_name

MAX_TEMPLATES = 1000
MAX_TEMPLATES_PER_REPOSITORY = 25
MAX_NAME = 100
MAX_DESCRIPTION = 1000


class ApprovalRuleTemplates:
    """Operations of CodeCommitService (a mixin: it needs `store`, `templates`, `caller` and `page_size`)."""

    def create_approval_rule_template(self, params):
        name = _name(params, "approvalRuleTemplateName")
        content = _content(params, "approvalRuleTemplateContent")
        description = _description(params, mandatory=False)
        with self.templates.editing() as entries:
            if _find(entries, name):
                raise AwsError(
                    "ApprovalRuleTemplateNameAlreadyExistsException",
                    f"approvalRuleTemplateName: a template named {name} already exists.",
                )
            if len(entries) >= MAX_TEMPLATES:
                raise AwsError(
                    "NumberOfRuleTemplatesExceededException",
                    f"A Region has at most {MAX_TEMPLATES} approval rule templates; delete one first.",
                )
            stamp = now()
            template = {
                "approvalRuleTemplateId": str(uuid.uuid4()),
                "approvalRuleTemplateName": name,
                "approvalRuleTemplateDescription": description or "",
                "approvalRuleTemplateContent": content,
                "ruleContentSha256": content_sha256(content),
                "lastModifiedDate": stamp,
                "creationDate": stamp,
                "lastModifiedUser": self.caller(),
            }
            entries.append({"template": template, "repositoryIds": []})
        return {"approvalRuleTemplate": template}

    def get_approval_rule_template(self, params):
        entry = _existing(self.templates.all(), _name(params, "approvalRuleTemplateName"))
        return {"approvalRuleTemplate": entry["template"]}

    def list_approval_rule_templates(self, params):
        names = sorted(entry["template"]["approvalRuleTemplateName"] for entry in self.templates.all())
        return self._page("approvalRuleTemplateNames", names, params)

    def delete_approval_rule_template(self, params):
        name = _name(params, "approvalRuleTemplateName")
        with self.templates.editing() as entries:
            entry = _find(entries, name)
            if entry is None:
                return {"approvalRuleTemplateId": ""}
            associated = self._repository_names(entry)
            if associated:
                raise AwsError(
                    "ApprovalRuleTemplateInUseException",
                    f"approvalRuleTemplateName: {name} is associated with {', '.join(associated)}; "
                    "disassociate it from them first.",
                )
            entries.remove(entry)
        return {"approvalRuleTemplateId": entry["template"]["approvalRuleTemplateId"]}

    def update_approval_rule_template_content(self, params):
        name = _name(params, "approvalRuleTemplateName")
        content = _content(params, "newRuleContent")
        expected = optional_string(params, "existingRuleContentSha256")
        with self.templates.editing() as entries:
            template = _existing(entries, name)["template"]
            if expected is not None and expected != template["ruleContentSha256"]:
                raise AwsError(
                    "InvalidRuleContentSha256Exception",
                    f"existingRuleContentSha256 is not the SHA-256 of {name}'s current content.",
                )
            self._change(
                template, approvalRuleTemplateContent=content, ruleContentSha256=content_sha256(content)
            )
        return {"approvalRuleTemplate": template}

    def update_approval_rule_template_description(self, params):
        name = _name(params, "approvalRuleTemplateName")
        description = _description(params, mandatory=True)
        with self.templates.editing() as entries:
            template = _existing(entries, name)["template"]
            self._change(template, approvalRuleTemplateDescription=description)
        return {"approvalRuleTemplate": template}

    def update_approval_rule_template_name(self, params):
        old = _name(params, "oldApprovalRuleTemplateName")
        new = _name(params, "newApprovalRuleTemplateName")
        with self.templates.editing() as entries:
            template = _existing(entries, old, "oldApprovalRuleTemplateName")["template"]
            if new != old and _find(entries, new):
                raise AwsError(
                    "ApprovalRuleTemplateNameAlreadyExistsException",
                    f"newApprovalRuleTemplateName: a template named {new} already exists.",
                )
            self._change(template, approvalRuleTemplateName=new)
        return {"approvalRuleTemplate": template}

    # -- associations --------------------------------------------------------------------------------

    def associate_approval_rule_template_with_repository(self, params):
        name = _name(params, "approvalRuleTemplateName")
        repository = check_name(params.get("repositoryName"))
        with self.templates.editing() as entries:
            self._associate(entries, _existing(entries, name), repository)

    def disassociate_approval_rule_template_from_repository(self, params):
        name = _name(params, "approvalRuleTemplateName")
        repository = check_name(params.get("repositoryName"))
        with self.templates.editing() as entries:
            _disassociate(_existing(entries, name), self.store.get(repository))

    def batch_associate_approval_rule_template_with_repositories(self, params):
        name = _name(params, "approvalRuleTemplateName")
        repositories = repository_names(params)
        with self.templates.editing() as entries:
            entry = _existing(entries, name)
            done, errors = _each(repositories, lambda repository: self._associate(entries, entry, repository))
        return {"associatedRepositoryNames": done, "errors": errors}

    def batch_disassociate_approval_rule_template_from_repositories(self, params):
        name = _name(params, "approvalRuleTemplateName")
        repositories = repository_names(params)
        with self.templates.editing() as entries:
            entry = _existing(entries, name)
            done, errors = _each(
                repositories, lambda repository: _disassociate(entry, self.store.get(check_name(repository)))
            )
        return {"disassociatedRepositoryNames": done, "errors": errors}

    def list_associated_approval_rule_templates_for_repository(self, params):
        repository_id = self.store.get(check_name(params.get("repositoryName")))["repositoryId"]
        names = sorted(
            entry["template"]["approvalRuleTemplateName"]
            for entry in self.templates.all()
            if repository_id in entry["repositoryIds"]
        )
        return self._page("approvalRuleTemplateNames", names, params)

    def list_repositories_for_approval_rule_template(self, params):
        entry = _existing(self.templates.all(), _name(params, "approvalRuleTemplateName"))
        return self._page("repositoryNames", self._repository_names(entry), params)

    # -- pull requests -------------------------------------------------------------------------------

    def template_rules(self, repository: str, destination: str) -> list[dict]:
        """The approval rules a new pull request into `destination` (a full reference) of `repository` gets
        from the templates associated with it."""
        repository_id = self.store.get(repository)["repositoryId"]
        templates = sorted(
            (entry["template"] for entry in self.templates.all() if repository_id in entry["repositoryIds"]),
            key=lambda template: template["approvalRuleTemplateName"],
        )
        return [
            new_rule(
                template["approvalRuleTemplateName"],
                template["approvalRuleTemplateContent"],
                self.caller(),
                origin={key: template[key] for key in ("approvalRuleTemplateId", "approvalRuleTemplateName")},
            )
            for template in templates
            if applies_to(json.loads(template["approvalRuleTemplateContent"]), destination)
        ]

    # -- helpers -------------------------------------------------------------------------------------

    def _associate(self, entries: list[dict], entry: dict, repository: str) -> None:
        repository_id = self.store.get(check_name(repository))["repositoryId"]
        if repository_id in entry["repositoryIds"]:
            return
        if sum(repository_id in other["repositoryIds"] for other in entries) >= MAX_TEMPLATES_PER_REPOSITORY:
            raise AwsError(
                "MaximumRuleTemplatesAssociatedWithRepositoryException",
                f"{repository} already has {MAX_TEMPLATES_PER_REPOSITORY} approval rule templates, the most "
                "a repository may have.",
            )
        entry["repositoryIds"].append(repository_id)

    def _repository_names(self, entry: dict) -> list[str]:
        """The names of the repositories (still existing) the template is associated with, sorted."""
        return sorted(
            m["repositoryName"] for m in self.store.all() if m["repositoryId"] in entry["repositoryIds"]
        )

    def _change(self, template: dict, **fields) -> None:
        template.update(fields, lastModifiedDate=now(), lastModifiedUser=self.caller())

    def _page(self, key: str, names: list[str], params) -> dict:
        page, token = offset_page(names, params.get("nextToken"), max_results(params, self.page_size))
        return with_token({key: page}, token)


def _disassociate(entry: dict, metadata: dict) -> None:
    if metadata["repositoryId"] in entry["repositoryIds"]:
        entry["repositoryIds"].remove(metadata["repositoryId"])


def _each(repositories: list[str], change) -> tuple[list[str], list[dict]]:
    """`change(repository)` for each one: the names it succeeded for, and the batch errors of the others."""
    done, errors = [], []
    for repository in repositories:
        try:
            change(repository)
        except AwsError as error:
            errors.append(
                {"repositoryName": repository, "errorCode": error.code, "errorMessage": error.message}
            )
        else:
            done.append(repository)
    return done, errors


def _name(params, key: str) -> str:
    name = required(params, key, "ApprovalRuleTemplateNameRequiredException")
    if len(name) > MAX_NAME:
        raise AwsError("InvalidApprovalRuleTemplateNameException", f"{key}: at most {MAX_NAME} characters.")
    return name


def _content(params, key: str) -> str:
    return rule_content(
        params,
        key,
        required_code="ApprovalRuleTemplateContentRequiredException",
        invalid_code="InvalidApprovalRuleTemplateContentException",
    )


def _description(params, mandatory: bool) -> str | None:
    description = optional_string(params, "approvalRuleTemplateDescription")
    if mandatory and description is None:
        raise AwsError(
            "InvalidApprovalRuleTemplateDescriptionException",
            "approvalRuleTemplateDescription is required (it may be empty).",
        )
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise AwsError(
            "InvalidApprovalRuleTemplateDescriptionException",
            f"approvalRuleTemplateDescription: at most {MAX_DESCRIPTION} characters.",
        )
    return description


def _find(entries: list[dict], name: str) -> dict | None:
    return next((entry for entry in entries if entry["template"]["approvalRuleTemplateName"] == name), None)


def _existing(entries: list[dict], name: str, key: str = "approvalRuleTemplateName") -> dict:
    entry = _find(entries, name)
    if entry is None:
        raise AwsError(
            "ApprovalRuleTemplateDoesNotExistException",
            f"{key}: approval rule template {name} does not exist in this account and Region.",
        )
    return entry
