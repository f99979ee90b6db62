"""The execution engine: runs pipelines as CodePipeline does, on events, never on sleeps."""
