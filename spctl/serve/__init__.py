"""spctl serve: each URL-mode node's pods over HTTP."""
