"""The sources layer: everything that publishes events.

``base`` (the protocols: ``TokenEngine``, ``SessionSource``, ``LiveControls``,
``ReplayControls``), ``live`` (one live session: bus + session + recorder + sampler + an engine),
``replay`` (a recording on its own clock), ``scripted`` (sessions with known timestamps for tests
and benchmarks), ``generation/`` (the transformers engine, in a child process or in this one) and ``telemetry/``
(backends behind one interface, the sampler, the CPU bandwidth probe). A new token source is a
sibling folder of ``generation/`` implementing ``TokenEngine``; a new telemetry backend is a
module in ``telemetry/`` registered in ``telemetry/select.py``.
"""
