"""spctl's command line (package spctl_cli): Click commands over the library, output only."""
