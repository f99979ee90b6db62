"""The action types CodePipeline offers, as data: the validator and the endpoint's ListActionTypes read it.

Artifact counts follow "Valid input and output artifacts for each action type" (codepipeline-spec §1.3);
configuration keys follow the action references (§1.4 and the AWS user guide). Counts or keys marked
[INF] in a comment are our best reading where the documentation was not at hand.
"""

from dataclasses import dataclass, field

BOOLEAN_VALUES = ("true", "false")
# A value of the form "ArtifactName::path/in/artifact" (CloudFormation TemplatePath, TemplateConfiguration).
INPUT_PATH = "input-path"
# A value that names one of the action's input artifacts (CodeBuild PrimarySource, ...).
INPUT_NAME = "input-name"


@dataclass(frozen=True, slots=True)
class ConfigProperty:
    """One configuration key of an action type (the ActionConfigurationProperty shape, plus checks)."""

    name: str
    description: str
    required: bool = False
    key: bool = False
    secret: bool = False
    type: str = "String"  # String | Number | Boolean
    allowed: tuple[str, ...] = ()  # the values the key takes, when it is an enumeration
    refers_to: str = ""  # INPUT_NAME or INPUT_PATH when the value names an input artifact
    queryable: bool = False  # job workers poll for jobs by its value (custom action types)

    def to_api(self) -> dict:
        listed = {
            "name": self.name,
            "required": self.required,
            "key": self.key,
            "secret": self.secret,
            "queryable": self.queryable,
            "description": self.description,
            "type": self.type,
        }
        return {key: value for key, value in listed.items() if value != ""}


@dataclass(frozen=True, slots=True)
class ActionType:
    """One (category, owner, provider, version) with its artifact counts and configuration keys."""

    category: str
    owner: str
    provider: str
    inputs: tuple[int, int]
    outputs: tuple[int, int]
    properties: tuple[ConfigProperty, ...] = ()
    settings: dict = field(default_factory=dict)
    version: str = "1"
    v2_only: bool = False
    required_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "required_keys", tuple(p.name for p in self.properties if p.required))
        object.__setattr__(self, "_by_name", {p.name: p for p in self.properties})

    @property
    def id(self) -> tuple[str, str, str, str]:
        return (self.category, self.owner, self.provider, self.version)

    def property(self, name: str) -> ConfigProperty | None:
        return self._by_name.get(name)

    def to_api(self) -> dict:
        """This type in the `actionTypes` shape of ListActionTypes."""
        return {
            "id": {
                "category": self.category,
                "owner": self.owner,
                "provider": self.provider,
                "version": self.version,
            },
            "settings": dict(self.settings),
            "actionConfigurationProperties": [p.to_api() for p in self.properties],
            "inputArtifactDetails": {"minimumCount": self.inputs[0], "maximumCount": self.inputs[1]},
            "outputArtifactDetails": {"minimumCount": self.outputs[0], "maximumCount": self.outputs[1]},
        }


def _prop(name, description, **kwargs) -> ConfigProperty:
    return ConfigProperty(name, description, **kwargs)


def _flag(name, description) -> ConfigProperty:
    return ConfigProperty(name, description, type="Boolean", allowed=BOOLEAN_VALUES)


def _console(entity: str, execution: str = "") -> dict:
    """Console deep links in the form the AWS console uses ({Config:Key} and {ExternalExecutionId})."""
    settings = {"entityUrlTemplate": f"https://console.aws.amazon.com/{entity}"}
    if execution:
        settings["executionUrlTemplate"] = f"https://console.aws.amazon.com/{execution}"
    return settings


_POLL = _flag(
    "PollForSourceChanges", "Poll the source for changes; set false when an event rule starts the pipeline."
)
_OUTPUT_FORMAT = _prop(
    "OutputArtifactFormat",
    "CODE_ZIP (default) or CODEBUILD_CLONE_REF (a full clone only CodeBuild can use).",
    allowed=("CODE_ZIP", "CODEBUILD_CLONE_REF"),
)

_CODEBUILD_PROPERTIES = (
    _prop("ProjectName", "The CodeBuild project to run.", required=True, key=True),
    _prop(
        "PrimarySource",
        "The input artifact CodeBuild uses as its primary source; required with several inputs.",
        refers_to=INPUT_NAME,
    ),
    _prop("EnvironmentVariables", "JSON list of {name, value, type} environment variables for the build."),
    _flag("BatchEnabled", "Run a batch build."),
    _flag("CombineArtifacts", "Combine the batch build's artifacts into one output artifact."),
)

_CLOUDFORMATION_MODES = (
    "CREATE_UPDATE",
    "DELETE_ONLY",
    "REPLACE_ON_FAILURE",
    "CHANGE_SET_REPLACE",
    "CHANGE_SET_EXECUTE",
)

_CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)


def _ecs_image_properties() -> tuple[ConfigProperty, ...]:
    """Image1..Image4 artifact/container pairs of the CodeDeployToECS action."""
    pairs = []
    for n in range(1, 5):
        pairs.append(_prop(f"Image{n}ArtifactName", f"Input artifact with image {n}.", refers_to=INPUT_NAME))
        pairs.append(_prop(f"Image{n}ContainerName", f"Placeholder in the task definition for image {n}."))
    return tuple(pairs)


ACTION_TYPES: tuple[ActionType, ...] = (
    # --- Source -----------------------------------------------------------------------------------
    ActionType(
        "Source",
        "AWS",
        "CodeCommit",
        inputs=(0, 0),
        outputs=(1, 1),
        properties=(
            _prop("RepositoryName", "The CodeCommit repository.", required=True, key=True),
            _prop("BranchName", "The branch whose commits start the pipeline.", required=True),
            _POLL,
            _OUTPUT_FORMAT,
        ),
        settings=_console(
            "codesuite/codecommit/repositories/{Config:RepositoryName}/browse/refs/heads/{Config:BranchName}",
            "codesuite/codecommit/repositories/{Config:RepositoryName}/commit/{ExternalExecutionId}",
        ),
    ),
    ActionType(
        "Source",
        "AWS",
        "S3",
        inputs=(0, 0),
        outputs=(1, 1),
        properties=(
            _prop("S3Bucket", "The versioned bucket that holds the source object.", required=True, key=True),
            _prop("S3ObjectKey", "The key of the source zip in the bucket.", required=True),
            _POLL,
            _flag("AllowOverrideForS3ObjectKey", "Let StartPipelineExecution override S3ObjectKey."),
        ),
        settings=_console("s3/buckets/{Config:S3Bucket}"),
    ),
    ActionType(
        "Source",
        "AWS",
        "ECR",
        inputs=(0, 0),
        outputs=(1, 1),
        properties=(
            _prop("RepositoryName", "The ECR repository.", required=True, key=True),
            _prop("ImageTag", "The image tag to watch (default latest)."),
        ),
        settings=_console("ecr/repositories/{Config:RepositoryName}"),
    ),
    ActionType(
        "Source",
        "AWS",
        "CodeStarSourceConnection",
        inputs=(0, 0),
        outputs=(1, 1),
        properties=(
            _prop("ConnectionArn", "The connection to GitHub, Bitbucket or GitLab.", required=True, key=True),
            _prop("FullRepositoryId", "owner/repository.", required=True),
            _prop("BranchName", "The branch whose commits start the pipeline.", required=True),
            _OUTPUT_FORMAT,
            _flag("DetectChanges", "Start the pipeline on new commits (default true)."),
        ),
        settings=_console("codesuite/settings/connections"),
    ),
    ActionType(
        "Source",
        "ThirdParty",
        "GitHub",
        inputs=(0, 0),
        outputs=(1, 1),
        properties=(
            _prop("Owner", "The GitHub user or organization.", required=True, key=True),
            _prop("Repo", "The repository name.", required=True, key=True),
            _prop("Branch", "The branch whose commits start the pipeline.", required=True, key=True),
            _prop("OAuthToken", "A GitHub personal access token.", required=True, secret=True),
            _POLL,
        ),
        settings={
            "entityUrlTemplate": "https://github.com/{Config:Owner}/{Config:Repo}/tree/{Config:Branch}"
        },
    ),
    # --- Build and Test -----------------------------------------------------------------------------
    *(  # CodeBuild serves as a Build and as a Test action, alike
        ActionType(
            category,
            "AWS",
            "CodeBuild",
            inputs=(1, 5),
            outputs=(0, 5),
            properties=_CODEBUILD_PROPERTIES,
            settings=_console(
                "codesuite/codebuild/projects/{Config:ProjectName}",
                "codesuite/codebuild/builds/{ExternalExecutionId}",
            ),
        )
        for category in ("Build", "Test")
    ),
    ActionType(
        "Test",
        "AWS",
        "DeviceFarm",
        inputs=(1, 1),
        outputs=(0, 0),
        properties=(
            _prop("ProjectId", "The Device Farm project.", required=True, key=True),
            _prop("DevicePoolArn", "The device pool to test on.", required=True),
            _prop("AppType", "Android, iOS or Web.", required=True),
            _prop("App", "The app file in the input artifact."),
            _prop("TestType", "The test framework, e.g. APPIUM_PYTHON.", required=True),
            _prop("Test", "The test package in the input artifact."),
            _flag("RecordAppPerformanceData", "Record CPU, FPS and memory data."),
            _flag("RecordVideo", "Record a video of the test."),
            _flag("RadioWifiEnabled", "Turn Wi-Fi on."),
            _flag("RadioBluetoothEnabled", "Turn Bluetooth on."),
            _flag("RadioNfcEnabled", "Turn NFC on."),
            _flag("RadioGpsEnabled", "Turn GPS on."),
            _prop("AppiumVersion", "The Appium version."),
            _prop("FuzzEventCount", "Fuzz test: number of events.", type="Number"),
            _prop("FuzzEventThrottle", "Fuzz test: milliseconds between events.", type="Number"),
            _prop("FuzzRandomizerSeed", "Fuzz test: randomizer seed.", type="Number"),
            _prop("CustomHostMachineArtifacts", "Where custom host artifacts are stored."),
            _prop("CustomDeviceArtifacts", "Where custom device artifacts are stored."),
            _flag("UnmeteredDevicesOnly", "Use only unmetered devices."),
            _prop("JobTimeoutMinutes", "Test run timeout in minutes.", type="Number"),
            _prop("Latitude", "Device latitude.", type="Number"),
            _prop("Longitude", "Device longitude.", type="Number"),
        ),
    ),
    # --- Approval ----------------------------------------------------------------------------------
    ActionType(
        "Approval",
        "AWS",
        "Manual",
        inputs=(0, 0),
        outputs=(0, 0),
        properties=(
            _prop("NotificationArn", "SNS topic notified when approval is needed."),
            _prop("ExternalEntityLink", "A URL for the reviewer to look at."),
            _prop("CustomData", "A comment shown to the reviewer."),
        ),
    ),
    # --- Deploy ------------------------------------------------------------------------------------
    ActionType(
        "Deploy",
        "AWS",
        "CodeDeploy",
        inputs=(1, 1),
        outputs=(0, 0),
        properties=(
            _prop("ApplicationName", "The CodeDeploy application.", required=True, key=True),
            _prop("DeploymentGroupName", "The deployment group to deploy to.", required=True, key=True),
        ),
        settings=_console(
            "codesuite/codedeploy/applications/{Config:ApplicationName}",
            "codesuite/codedeploy/deployments/{ExternalExecutionId}",
        ),
    ),
    ActionType(
        "Deploy",
        "AWS",
        "CodeDeployToECS",
        inputs=(1, 3),
        outputs=(0, 0),
        properties=(
            _prop("ApplicationName", "The CodeDeploy application.", required=True, key=True),
            _prop("DeploymentGroupName", "The ECS deployment group.", required=True, key=True),
            _prop(
                "TaskDefinitionTemplateArtifact",
                "Input artifact with the task definition.",
                required=True,
                refers_to=INPUT_NAME,
            ),
            _prop(
                "AppSpecTemplateArtifact",
                "Input artifact with the AppSpec file.",
                required=True,
                refers_to=INPUT_NAME,
            ),
            _prop("TaskDefinitionTemplatePath", "Task definition file (default taskdef.json)."),
            _prop("AppSpecTemplatePath", "AppSpec file (default appspec.yaml)."),
            *_ecs_image_properties(),
        ),
    ),
    ActionType(
        "Deploy",
        "AWS",
        "ECS",
        inputs=(1, 1),
        outputs=(0, 0),
        properties=(
            _prop("ClusterName", "The ECS cluster.", required=True, key=True),
            _prop("ServiceName", "The ECS service.", required=True, key=True),
            _prop("FileName", "Image definitions file (default imagedefinitions.json)."),
            _prop("DeploymentTimeout", "Minutes to wait for the deployment (1-60).", type="Number"),
        ),
    ),
    ActionType(
        "Deploy",
        "AWS",
        "S3",
        inputs=(1, 1),
        outputs=(0, 0),
        properties=(
            _prop("BucketName", "The bucket to deploy to.", required=True, key=True),
            _prop(
                "Extract",
                "true: unzip the artifact into the bucket; false: upload it as ObjectKey.",
                required=True,
                type="Boolean",
                allowed=BOOLEAN_VALUES,
            ),
            _prop("ObjectKey", "The object key (required when Extract is false)."),
            _prop("KMSEncryptionKeyARN", "KMS key for the deployed objects."),
            _prop("CannedACL", "Canned ACL applied to the deployed objects.", allowed=_CANNED_ACLS),
            _prop("CacheControl", "Cache-Control header of the deployed objects."),
        ),
        settings=_console("s3/buckets/{Config:BucketName}"),
    ),
    ActionType(
        "Deploy",
        "AWS",
        "CloudFormation",
        inputs=(0, 10),
        outputs=(0, 1),
        properties=(
            _prop("ActionMode", "What to do with the stack.", required=True, allowed=_CLOUDFORMATION_MODES),
            _prop("StackName", "The stack to create, update or delete.", required=True, key=True),
            _prop("ChangeSetName", "The change set (required for the CHANGE_SET_* modes)."),
            _prop("TemplatePath", "ArtifactName::path of the template.", refers_to=INPUT_PATH),
            _prop(
                "TemplateConfiguration", "ArtifactName::path of a configuration file.", refers_to=INPUT_PATH
            ),
            _prop("ParameterOverrides", "JSON object of parameter values (at most 1 KB)."),
            _prop(
                "Capabilities",
                "Comma-separated CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND.",
            ),
            _prop("RoleArn", "The role CloudFormation uses to act on the stack."),
            _prop("OutputFileName", "File in the output artifact that receives the stack outputs."),
        ),
        settings=_console("cloudformation/home#/stacks"),
    ),
    ActionType(
        "Deploy",
        "AWS",
        "ElasticBeanstalk",
        inputs=(1, 1),
        outputs=(0, 0),
        properties=(
            _prop("ApplicationName", "The Elastic Beanstalk application.", required=True, key=True),
            _prop("EnvironmentName", "The environment to deploy to.", required=True, key=True),
        ),
    ),
    ActionType(
        "Deploy",
        "AWS",
        "OpsWorks",
        inputs=(1, 1),
        outputs=(0, 0),
        properties=(
            _prop("Stack", "The OpsWorks stack.", required=True, key=True),
            _prop("App", "The OpsWorks app.", required=True, key=True),
            _prop("Layer", "The layer to deploy to."),
        ),
    ),
    ActionType(
        "Deploy",
        "AWS",
        "ServiceCatalog",
        inputs=(1, 1),
        outputs=(0, 0),
        properties=(
            _prop("ProductId", "The Service Catalog product.", required=True, key=True),
            _prop("TemplateFilePath", "Template file in the input artifact."),
            _prop("ConfigurationFilePath", "Configuration file in the input artifact."),
            _prop("ProductVersionName", "Name of the product version to create."),
            _prop("ProductVersionDescription", "Description of the product version."),
            _prop("ProductType", "CLOUD_FORMATION_TEMPLATE."),
        ),
    ),
    ActionType(
        "Deploy",
        "ThirdParty",
        "AlexaSkillsKit",
        inputs=(1, 2),
        outputs=(0, 0),
        properties=(
            _prop("ClientId", "Login with Amazon client id.", required=True),
            _prop("ClientSecret", "Login with Amazon client secret.", required=True, secret=True),
            _prop("RefreshToken", "Login with Amazon refresh token.", required=True, secret=True),
            _prop("SkillId", "The Alexa skill.", required=True, key=True),
        ),
    ),
    # --- Invoke and Compute ------------------------------------------------------------------------
    ActionType(
        "Invoke",
        "AWS",
        "Lambda",
        inputs=(0, 5),
        outputs=(0, 5),
        properties=(
            _prop("FunctionName", "The Lambda function to invoke.", required=True, key=True),
            _prop("UserParameters", "A string passed to the function in the job data."),
        ),
        settings=_console("lambda/home#/functions/{Config:FunctionName}"),
    ),
    ActionType(
        "Invoke",
        "AWS",
        "StepFunctions",
        inputs=(0, 1),  # [INF] one optional input (InputType FilePath reads a file of it)
        outputs=(0, 1),
        properties=(
            _prop("StateMachineArn", "The state machine to start.", required=True, key=True),
            _prop("ExecutionNamePrefix", "Prefix of the state machine execution name."),
            _prop("InputType", "Literal (default) or FilePath.", allowed=("Literal", "FilePath")),
            _prop("Input", "The input (Literal) or a file of the input artifact (FilePath)."),
        ),
        settings=_console("states/home#/statemachines/view/{Config:StateMachineArn}"),
    ),
    ActionType(
        "Compute",
        "AWS",
        "Commands",
        inputs=(1, 10),  # [INF] from the Commands action reference
        outputs=(0, 1),
        v2_only=True,
    ),
)

_BY_ID: dict[tuple[str, str, str, str], ActionType] = {t.id: t for t in ACTION_TYPES}
PROVIDERS: tuple[str, ...] = tuple(sorted({t.provider for t in ACTION_TYPES}))


def custom_type(declared: dict) -> ActionType:
    """A custom action type from its ActionType shape (as CreateCustomActionType stores it)."""
    type_id = declared["id"]
    properties = tuple(
        ConfigProperty(
            prop["name"],
            prop.get("description", ""),
            required=prop["required"],
            key=prop["key"],
            secret=prop["secret"],
            type=prop.get("type", "String"),
            queryable=prop.get("queryable", False),
        )
        for prop in declared.get("actionConfigurationProperties", [])
    )
    counts = [
        (details["minimumCount"], details["maximumCount"])
        for details in (declared["inputArtifactDetails"], declared["outputArtifactDetails"])
    ]
    return ActionType(
        type_id["category"],
        "Custom",
        type_id["provider"],
        *counts,
        properties=properties,
        settings=dict(declared.get("settings", {})),
        version=type_id["version"],
    )


def render_url(template: str, configuration: dict, external_id: str = "") -> str:
    """A URL of an action type's settings with its placeholders filled: {Config:Key} by the action's
    configuration, {ExternalExecutionId} by the run's external id."""
    url = template.replace("{ExternalExecutionId}", external_id)
    for key, value in configuration.items():
        url = url.replace(f"{{Config:{key}}}", str(value))
    return url


def find(category, owner, provider, version) -> ActionType | None:
    """The action type with exactly this id, or None."""
    return _BY_ID.get((category, owner, provider, version))


def with_provider(provider: str) -> list[ActionType]:
    """Every action type of a provider (a provider can serve several categories, e.g. CodeBuild)."""
    return [t for t in ACTION_TYPES if t.provider == provider]


def list_action_types(owner: str | None = None) -> list[dict]:
    """The `actionTypes` list of a ListActionTypes answer, optionally filtered by owner."""
    return [t.to_api() for t in ACTION_TYPES if owner is None or t.owner == owner]
