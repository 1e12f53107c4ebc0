"""A private Dovecot IMAP server for the email tests and bench/mail.py (FACTS.md has why each
setting is there)."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

from imapclient import IMAPClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    """A private Dovecot IMAP server on a loopback port; any user name logs in with PASSWORD
    and gets its own maildir, so each test takes a fresh user."""

    PASSWORD = "imap-test-pw"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        mail = self.root / "mail"
        if os.geteuid() == 0:
            # dovecot's login processes refuse root: the package's own users do the work
            identity = "uid=nobody gid=nogroup"
            extra = ""
        else:
            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            identity = f"uid={os.getuid()} gid={os.getgid()}"
            extra = (f"default_internal_user = {user}\ndefault_internal_group = {group}\n"
                     f"default_login_user = {user}\nfirst_valid_uid = {os.getuid()}\n")
        return f"""protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
{extra}passdb {{
  driver = static
  args = password={self.PASSWORD}
}}
userdb {{
  driver = static
  args = {identity} home={mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""

    def start(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root / "mail", nobody.pw_uid, nobody.pw_gid)
        conf = self.root / "dovecot.conf"
        conf.write_text(self.config())
        self._proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1):
                return
            if self._proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self._proc.stderr.read().decode()}"
                                   if self._proc.stderr else "dovecot exited")
            time.sleep(0.05)
        raise RuntimeError("dovecot did not open its port in 15 s")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    def client(self, user: str) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        c.login(user, self.PASSWORD)
        return c
