"""A Liquid Edge device in Python 3, standard library only, written from docs/device-contract.md."""

from .device import Device

__all__ = ["Device"]
