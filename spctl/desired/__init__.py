"""What should run on each node, checked before any node is touched: the inventory, its rendering, validation."""
