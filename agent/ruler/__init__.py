"""③④ Rules: rule files and groups, the evaluation loop, the alert state machine, templates,
persisted alert state and the promtool-format test runner.

Entry points: `manager.RuleManager` (the daemon), `unittest.check_rules` and
`unittest.test_rules` (`tripwired rules check|test`), `state.AlertStateStore`.
"""
