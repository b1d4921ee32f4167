"""Use cases: the behaviour of the product, one per command or event, written against the ports
(`core.ports`) and the domain. They never import an adapter or an SDK; the composition root
(`core.bootstrap`) hands them what they need.

- `ingest` (+ `reference`): an inference file becomes a data asset version or a quarantine
  record; `batches`: what follows a registered batch (re-aim the monitor, the early check's
  verdict);
- `drift_checks`: the early check on each batch, on-demand checks, stored results;
- `monitors`: every model has one monitor on its latest version; `monitor_runs`: run it now or
  when its schedule fires;
- `retraining/`: alerts -> at most one request per model, the worker, the repair timer, the
  poison queue;
- `admin`: the operators' queries and the same commands by hand.
"""
