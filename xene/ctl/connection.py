"""The per-invocation link to the API server: settings resolved and a client opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when first used: `xenectl --help` must start fast
    import httpx

    from xene.ctl.client import XeneClient
    from xene.ctl.config import CtlSettings


@dataclass
class ServerConnection:
    """Global flags of one xenectl invocation; commands that need the server ask it for a client.

    Resolution is lazy so that commands which never talk to the server (`validate`, `config`)
    work even when the config file or the server address is broken.
    """

    server_flag: str | None = None
    token_flag: str | None = None
    transport: httpx.BaseTransport | None = None
    _settings: CtlSettings | None = field(default=None, init=False, repr=False)
    _client: XeneClient | None = field(default=None, init=False, repr=False)

    @property
    def settings(self) -> CtlSettings:
        """Flags, environment and config file resolved (once)."""
        if self._settings is None:
            from xene.ctl.config import load_ctl_settings

            self._settings = load_ctl_settings(self.server_flag, self.token_flag)
        return self._settings

    @property
    def client(self) -> XeneClient:
        """The API client for this invocation, opened on first use."""
        if self._client is None:
            from xene.ctl.client import XeneClient

            self._client = XeneClient.from_settings(self.settings, transport=self.transport)
        return self._client

    def quick_client(self, timeout_seconds: float) -> XeneClient:
        """A separate client with a short timeout (shell completion must never hang)."""
        from xene.ctl.client import XeneClient

        return XeneClient.from_settings(
            self.settings, transport=self.transport, timeout_seconds=timeout_seconds
        )

    def close(self) -> None:
        """Close the client if one was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None
