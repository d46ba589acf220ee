"""One node's work for each verb, top to bottom: connect, read facts, plan, apply, report."""
