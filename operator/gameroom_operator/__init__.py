"""The GameRoom operator: turns GameRoom resources into running game rooms."""

__version__ = "0.1.0"

GROUP = "drawgame.dev"
VERSION = "v1alpha1"
PLURAL = "gamerooms"
KIND = "GameRoom"
DEFAULT_IMAGE = "ghcr.io/drawgame/gameroom:0.1.0"
FIELD_MANAGER = "gameroom-operator"
