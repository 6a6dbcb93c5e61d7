"""Vigil auth service."""
