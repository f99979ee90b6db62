"""Pipeline executions and their action runs: the facts the state and history APIs report."""

from dataclasses import asdict, dataclass, field

RUNNING = ("InProgress", "Stopping")


@dataclass
class ActionRun:
    action_execution_id: str
    pipeline_execution_id: str
    pipeline_version: int
    stage: str
    action: str
    start_time: float
    last_update_time: float
    input: dict
    status: str = "InProgress"  # InProgress | Abandoned | Succeeded | Failed
    output: dict = field(default_factory=dict)
    summary: str | None = None
    token: str | None = None
    updated_by: str | None = None

    @property
    def result(self) -> dict:
        return self.output.get("executionResult", {})


@dataclass
class StageRun:
    status: str
    start_time: float
    last_update_time: float
    retry_attempts: int = 0


@dataclass
class Execution:
    pipeline_name: str
    region: str
    id: str
    pipeline_version: int
    execution_mode: str
    trigger: dict
    declaration: dict  # the pipeline as it was when the execution started
    start_time: float
    last_update_time: float
    status: str = "InProgress"
    status_summary: str | None = None
    stop_trigger: dict | None = None
    client_request_token: str | None = None
    variables: list[dict] = field(default_factory=list)
    artifact_revisions: list[dict] = field(default_factory=list)
    source_revisions: list[dict] = field(default_factory=list)
    stages: dict[str, StageRun] = field(default_factory=dict)
    actions: list[ActionRun] = field(default_factory=list)
    artifacts: dict[str, dict] = field(default_factory=dict)  # artifact name -> {bucket, key}
    namespaces: dict[str, dict] = field(default_factory=dict)  # namespace -> output variables

    @property
    def pipeline_key(self) -> tuple[str, str]:
        return self.region, self.pipeline_name

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    def stage_declarations(self) -> list[dict]:
        return self.declaration["stages"]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Execution":
        data = dict(data)
        data["stages"] = {name: StageRun(**run) for name, run in data["stages"].items()}
        data["actions"] = [ActionRun(**run) for run in data["actions"]]
        return cls(**data)
