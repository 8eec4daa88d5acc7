"""⑤ HTTP: /metrics, health, reload, the API and the status page."""
