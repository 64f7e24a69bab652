"""The game server: one aiohttp process serves one drawing-and-guessing room."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gameroom-operator")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

PROTOCOL_VERSION = 1
