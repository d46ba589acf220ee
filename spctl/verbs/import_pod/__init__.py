"""spctl import: take over a static pod that already runs on nodes, as one template."""
