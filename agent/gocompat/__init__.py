"""Go and Prometheus compatibility: the notations, number formats and regex semantics users know.

One home for what tripwired must read and write exactly as Prometheus, Alertmanager or promtool do:

- `duration`: Prometheus' duration notation (`1h30m`, `0`), parsed and printed, and Go's
  time.Duration printing that promtool uses in its reports;
- `strconv`: Go's float formatting (strconv.FormatFloat);
- `regex`: Go's regular expressions (RE2), anchored as Prometheus anchors label matchers and
  relabelling, or unanchored as templates use them.
"""
