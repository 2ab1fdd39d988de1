"""The per-invocation link to the API server: settings resolved and a client opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from xene.ctl.client import XeneClient
from xene.ctl.config import CtlSettings, load_ctl_settings


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
            self._settings = load_ctl_settings(self.server_flag, self.token_flag)
        return self._settings

    @property
    def client(self) -> XeneClient:
        """The API client for this invocation, opened on first use."""
        if self._client is None:
            self._client = XeneClient.from_settings(self.settings, transport=self.transport)
        return self._client

    def close(self) -> None:
        """Close the client if one was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None
