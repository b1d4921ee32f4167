"""Entry points: one blueprint per event source (blob trigger, Event Grid, queue, timer, HTTP).
Each function parses its binding, calls one use case through `core.bootstrap.services()`, and
maps the outcome to a response, an acknowledgement, a retry or a poison message; no business
rules here. `dispatch` invokes the registered functions in-process, as the host does."""
