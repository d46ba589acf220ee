"""python -m spctl_cli: the same as the spctl command."""

from .main import main

main()
