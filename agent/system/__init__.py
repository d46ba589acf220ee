"""What the agent reads and changes on the node itself, one concept a module: files, the node
lock, the ownership state, systemd, commands, HTTP over sockets, the kubelet's configuration
and health, the kubelet's log; and the lean helpers the facts call needs (jsonfast, text) and
the one error reported as an answer (errors)."""
