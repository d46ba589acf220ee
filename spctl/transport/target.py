"""Where and how to reach one node over SSH, every field already resolved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to reach one node; every field is already resolved."""

    host: str
    port: int = 22
    user: str = "root"
    key_file: Optional[str] = None
    known_hosts: Optional[str] = None
    jump: Optional[SSHTarget] = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    host_key_policy: str = "strict"  # "strict" or "accept-new"

    @property
    def display(self) -> str:
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.user}@{self.host}{port}"

    @property
    def known_hosts_name(self) -> str:
        """The host name as OpenSSH writes it in known_hosts."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"
