"""spctl's lab (package spctl_lab): nodes as containers with real systemd, sshd and container
runtimes on one Docker engine, and the kubelet stand-in (``standin``) for tests and demos."""
