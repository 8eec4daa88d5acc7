"""⑤ Notifications: routing, grouping, inhibition, silences, the durable outbox and the senders."""
