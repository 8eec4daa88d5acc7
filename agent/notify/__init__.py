"""⑤ Notifications, arranged as Alertmanager's pipeline: route, group, mute, dedup, store, retry, send.

The pipeline, in the order an alert meets it:
- route.py, matchers.py, timeinterval.py   the routing tree and its matchers and time intervals
                                           (routetest.py: the routing tests of `rules test`);
- dispatch.py                              aggregation groups and their timers (group_wait, ...);
- inhibit.py, silence.py                   muting: inhibition rules and silences;
- nflog.py                                 the notification log (dedup: does the receiver need it?);
- outbox/                                  the durable outbox: delivery loop, SQLite store on its
                                           own thread, memory lane for a refusing disk;
- retry.py                                 backoff and the give-up rule (shared with remote_write);
- http.py                                  HTTP for integrations: clients, status classification,
                                           redaction;
- model.py                                 what flows between them (Notification, Result, Outcome);
- probe.py                                 the test notification of `tripwired notify test`.

integrations/ holds one sub-package per kind of receiver (slack/, pagerduty/, webhook/), each
implementing `integrations.protocol.Notifier`; no integration imports another. Adding an
integration: add its sub-package, then register it with one line in
`integrations/registry.py` (`INTEGRATIONS`).

alertmanager.py is not an integration: it is Prometheus' notifier, handing the ruler's alerts to
external Alertmanagers beside this pipeline (no routing, no outbox).
"""
