"""CodePipeline: ours entirely (moto runs nothing): the control plane, pipelines on disk, the execution engine
and the triggers that start runs."""
