"""Delivery channels, one module each, listed here the way job families are listed in
``jobs.registry``.

A channel module defines ``KIND`` (a :class:`~jobs.channels.base.ChannelKind`): its
name, the settings model the worker's settings include (so its ``LIFECYCLE_*`` variables
are read and checked with the rest), and how those settings configure it. Adding a
channel is adding a module and its name below; the fan-out, the sender and the CLI
know channels only through this registry.
"""

from __future__ import annotations

import importlib
from functools import cache

from pydantic import BaseModel

from jobs.channels.base import Channel, ChannelKind
from jobs.config import JobConfig

CHANNELS: tuple[str, ...] = ("webhook", "slack", "email")


@cache
def channel_kinds() -> tuple[ChannelKind, ...]:
    """Every channel the worker knows, in ``CHANNELS`` order."""
    kinds = tuple(importlib.import_module(f"jobs.channels.{name}").KIND for name in CHANNELS)
    if [k.name for k in kinds] != list(CHANNELS):
        raise RuntimeError(f"channel modules and names disagree: {[k.name for k in kinds]}")
    return kinds


def channel_settings_models() -> tuple[type[BaseModel], ...]:
    """The settings models of every channel (the worker's settings include them all)."""
    return tuple(kind.settings for kind in channel_kinds())


def configured_channels(config: JobConfig) -> tuple[Channel, ...]:
    """The channels ``config`` turns on (the in-app notifications table is always on)."""
    made = (kind.configure(config.channel_settings[kind.name], config) for kind in channel_kinds())
    return tuple(channel for channel in made if channel is not None)


def channel_secrets(config: JobConfig) -> list[str]:
    """Every value of every configured channel that must never be shown."""
    return [secret for channel in configured_channels(config) for secret in channel.secrets()]
