"""The base of every model that travels: frozen, and strict about unknown fields."""

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
