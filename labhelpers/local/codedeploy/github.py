"""CodeDeploy's stored connections to GitHub accounts (ListGitHubAccountTokenNames, DeleteGitHubAccountToken).
They are made only in the AWS console's OAuth handshake with GitHub, which the local endpoint cannot reach:
it stores none."""

from ..awsjson import AwsError


class GitHubTokenOperations:
    """The GitHub account token operations of CodeDeployService, which mixes them in."""

    def list_git_hub_account_token_names(self, params):
        if params.get("nextToken"):  # no listing ever had a next page to give a token for
            raise AwsError("InvalidNextTokenException", "The next token is not valid.")
        return {"tokenNameList": []}

    def delete_git_hub_account_token(self, params):
        name = params.get("tokenName")
        if not name:
            raise AwsError("GitHubAccountTokenNameRequiredException", "tokenName is required.")
        raise AwsError(
            "GitHubAccountTokenDoesNotExistException",
            f"No GitHub account connection named {name}: the local lab endpoint stores none, as connections "
            "to GitHub are made in the AWS console.",
        )
