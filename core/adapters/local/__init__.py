"""The local backend: a workspace folder that stores Azure ML's entities as the YAML the Azure
CLI accepts, its monitor runner and retrainer, and the event sinks that deliver what Event Grid
would (in-process to the app's functions, or to a running `func start`)."""
