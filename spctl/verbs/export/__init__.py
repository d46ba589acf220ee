"""spctl export: a static pod as DaemonSets, and the handover to them node by node."""
