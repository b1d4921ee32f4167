"""Monitor Autopilot's core: everything but the Functions entry points.

Layers, lowest first (imports point down only; tests/unit/test_architecture.py checks it):

- `domain/`, `drift/`: pure code (events, commands, tags, typed records, validation rules,
  the drift engine); numpy, scipy, pyarrow and the standard library; no Azure SDK, no I/O.
- `training/`: training and scoring models with scikit-learn; imported only where a model is
  trained or scored.
- `ports.py`, `concurrency.py`, `settings.py`: what use cases need from the outside world
  (`typing.Protocol`s), the one optimistic-concurrency helper, the settings read once.
- `services/`: the use cases, written against the ports; `adapters/`: every SDK call, one
  folder per backend. The two never import each other.
- `bootstrap.py`: the composition root that builds adapters and hands them to use cases.

`core` never imports the entry points (`functions`, `function_app`), the dev tools or the
Functions library (`azure-functions`): checked by tests/unit/test_architecture.py.
"""
