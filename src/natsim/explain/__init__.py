"""The user-facing answer: endpoints, inputs, verified fixes, and renderers for `explain` and `trace`.

The engine returns values (:mod:`natsim.engine.result`); this package turns a
question as a user writes it into engine flows and the results back into text or
JSON.  Nothing here decides semantics.
"""
