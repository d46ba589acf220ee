"""Becoming root on a node: not at all (already root), sudo without a password, or sudo with a
password it reads from stdin exactly once (never on a command line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from spctl.transport.ssh import Dialog

#: sudo's refusal when sudoers says ``Defaults requiretty`` and there is no terminal:
#: plugins/sudoers/sudoers.c, ``sudo_warnx("%s", U_("sorry, you must have a tty to run
#: sudo"))``, printed after the program name ("sudo: ..."). The text is translated when the
#: node's locale is not English; then the error is reported as sudo printed it.
REQUIRETTY = "sorry, you must have a tty to run sudo"

# sudo's prompt, and the line a root shell prints once sudo let it run: until then, the
# command's stdin is held back (ssh.Dialog), so sudo reads the password once and never the
# request, and a password sudo did not ask for never reaches the command.
SUDO_PROMPT = "[spctl] sudo password for the agent:"
SUDO_READY = "[spctl] sudo: authenticated"
_SUDO_THEN = f'printf "%s\\n" "{SUDO_READY}" >&2 && exec "$@"'


@dataclass(frozen=True)
class Sudo:
    """How to become root: not at all (already root), passwordless, or with a password
    that sudo reads from stdin, exactly once (the password is never on a command line)."""

    enabled: bool = False
    password: Optional[str] = field(default=None, repr=False)
    patience: float = 30.0  # for sudo's prompt, then for sudo to let the command run

    def prefix(self) -> list[str]:
        if not self.enabled:
            return []
        if self.password is None:
            return ["sudo", "-n", "--"]
        return ["sudo", "-S", "-p", SUDO_PROMPT, "--", "sh", "-c", _SUDO_THEN, "spctl-sudo"]

    def dialog(self) -> Optional[Dialog]:
        if not self.enabled or self.password is None:
            return None
        return Dialog(
            prompt=SUDO_PROMPT.encode(),
            answer=(self.password + "\n").encode(),
            ready=SUDO_READY.encode(),
            patience=self.patience,
            # Refused at the first wrong password: the channel closes while sudo waits for
            # a second one, so PAM (and faillock) count one failed attempt, not three.
            refused=(b"Sorry, try again", b"incorrect password", b"no password was provided"),
            stuck="sudo did not ask with spctl's prompt, or asked again after the password "
            "(does sudoers set passprompt_override, or a PAM module ask its own question, "
            "such as a second factor?)",
        )
