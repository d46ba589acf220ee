"""Is a rendered pod a valid static pod: the Pod schema, spctl's static-pod rules, the kubelet's own rules."""
