"""The integrations: one sub-package per kind of receiver, all behind one protocol.

- protocol.py   `Notifier`, what every integration implements (build the payload, send once,
                say delivered / retry later / give up);
- registry.py   the one place integrations are registered (receiver config field -> builder);
- data.py       what payloads are built from (Alertmanager's template data, default title);
- <name>/       one integration each: slack/, pagerduty/, webhook/.

HTTP goes through agent/notify/http.py (clients, status classification, redaction). An
integration imports only the pipeline's model, http.py and data.py, never another integration.

Adding an integration: add `agent/notify/integrations/<name>/` (a module implementing
`Notifier`, re-exported by its `__init__.py`), then one `Registration` line in
`registry.INTEGRATIONS`; its config type goes into agent/config/receivers.py.
"""
